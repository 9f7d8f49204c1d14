#!/bin/sh
# Proves the core's tests find bugs: each patch in raft/tests/mutations
# breaks one safety rule of the core. For each, copy the sources to a temp
# dir, apply the patch, build the simulator and check that it FAILS; where
# it does not, the unit tests must. Exits non-zero if a mutation survives.
#
# Usage: scripts/raft-mutations.sh [patch...]   (SEEDS=N to change the run)
set -u
src=$(cd "$(dirname "$0")/.." && pwd)
seeds=${SEEDS:-20000}
cc=${CC:-cc}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT INT TERM

if [ $# -eq 0 ]; then
	set -- "$src"/raft/tests/mutations/*.patch
fi

undetected=0
for patch in "$@"; do
	name=$(basename "$patch" .patch)
	tree="$tmp/$name"
	mkdir -p "$tree/raft/tests"
	cp "$src"/raft/raft*.[ch] "$tree/raft/"
	cp "$src"/raft/tests/raft_sim.c "$src"/raft/tests/memnet.[ch] \
		"$tree/raft/tests/"
	if ! patch -s -d "$tree" -p1 <"$patch"; then
		echo "$name: ERROR patch does not apply"
		undetected=$((undetected + 1))
		continue
	fi
	if ! "$cc" -O2 -std=c11 -D_GNU_SOURCE -I"$tree" \
		"$tree"/raft/raft*.c "$tree"/raft/tests/memnet.c \
		"$tree"/raft/tests/raft_sim.c -o "$tree/raft_sim"; then
		echo "$name: ERROR does not build"
		undetected=$((undetected + 1))
		continue
	fi
	if out=$("$tree/raft_sim" --seeds "$seeds" 2>&1); then
		unit="unit tests not run (no pkg-config check)"
		if pkg-config --exists check &&
			"$cc" -std=c11 -D_GNU_SOURCE -I"$tree" \
				"$tree"/raft/raft*.c "$tree"/raft/tests/memnet.c \
				"$src"/raft/tests/test_raft.c \
				$(pkg-config --cflags --libs check) \
				-o "$tree/test_raft"; then
			if CK_VERBOSITY=silent "$tree/test_raft" >/dev/null 2>&1
			then
				unit="unit tests pass too"
			else
				unit="unit tests catch it"
			fi
		fi
		[ "$unit" = "unit tests catch it" ] || undetected=$((undetected + 1))
		echo "$name: NOT DETECTED by the simulator in $seeds seeds;" \
			"$unit"
	else
		echo "$name: detected: $(echo "$out" | grep -m1 '^raft_sim: seed')"
	fi
done
[ "$undetected" -eq 0 ]
