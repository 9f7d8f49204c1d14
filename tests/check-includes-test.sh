#!/bin/sh
# Proves scripts/check-includes.py fails when it should: builds throw-away
# source trees in a temp folder and checks that a clean tree passes, that an
# upward include, a forbidden ground include, a use of a layer beyond its
# one allowed header and include cycles each fail naming the file or the
# cycle, and that the real source tree passes.
set -u
command -v python3 >/dev/null 2>&1 || {
	echo "SKIP: no python3"
	exit 77
}
src=${CASK_SRC:-$(cd "$(dirname "$0")/.." && pwd)}
check="python3 $src/scripts/check-includes.py"
tmp=$(mktemp -d "${TMPDIR:-/tmp}/check-includes.XXXXXX") || exit 99
trap 'rm -rf "$tmp"' EXIT INT TERM
fails=0

# put TREE FILE [INCLUDED...]: writes FILE with one #include per header.
put() {
	tree=$1 file=$2
	shift 2
	mkdir -p "$(dirname "$tree/$file")"
	: >"$tree/$file"
	for h in "$@"; do
		printf '#include "%s"\n' "$h" >>"$tree/$file"
	done
}

# A tree that follows every rule of the table.
clean() {
	t=$tmp/$1
	rm -rf "$t"
	put "$t" raft/raft.h
	put "$t" raft/raft.c raft/raft.h
	put "$t" common/log.h
	put "$t" common/buf.h common/log.h
	put "$t" volume/bitcask.c volume/bitcask.h common/log.h
	put "$t" volume/bitcask.h common/buf.h
	put "$t" master/state/index.h raft/raft.h
	put "$t" master/state/lmdbenv.h
	put "$t" master/state/index.c master/state/index.h master/state/lmdbenv.h common/log.h
	put "$t" master/repl/node.h master/state/lmdbenv.h raft/raft.h
	put "$t" master/repl/node.c master/repl/node.h common/log.h
	put "$t" master/write/commit.h master/repl/node.h master/state/index.h
	put "$t" master/http/api.c master/write/commit.h common/buf.h
	put "$t" master/main.c master/http/api.h master/repl/node.h
	put "$t" master/http/api.h
	put "$t" rebuild/main.c common/log.h
	put "$t" tests/harness.h master/state/index.h volume/bitcask.h
	put "$t" raft/tests/raft_sim.c raft/raft.h
	put "$t" config.h
	# A build folder inside the tree (as in distcheck) is not sources.
	put "$t" _build/sub/common/bad.c master/http/api.h
	put "$t" obj/master/state/bad.c master/http/api.h
	: >"$t/obj/config.status"
	echo "$t"
}

# pass NAME TREE: the checker must exit 0 and print nothing.
pass() {
	out=$($check "$2" 2>&1)
	rc=$?
	if [ $rc -ne 0 ] || [ -n "$out" ]; then
		echo "FAIL: $1: expected a clean pass, got exit $rc:"
		echo "$out"
		fails=$((fails + 1))
	else
		echo "ok: $1"
	fi
}

# fail NAME TREE PATTERN...: the checker must exit 1 and print lines
# matching every (fixed-string) PATTERN.
fail() {
	name=$1 tree=$2
	shift 2
	out=$($check "$tree" 2>&1)
	rc=$?
	bad=
	[ $rc -eq 1 ] || bad="exit $rc, not 1"
	for p in "$@"; do
		printf '%s\n' "$out" | grep -qF -- "$p" || bad="$bad; no line with '$p'"
	done
	if [ -n "$bad" ]; then
		echo "FAIL: $name: $bad; output:"
		echo "$out"
		fails=$((fails + 1))
	else
		echo "ok: $name"
	fi
}

t=$(clean clean)
pass "clean tree" "$t"

t=$(clean upward)
put "$t" master/state/x.c common/log.h master/http/y.h
fail "upward include" "$t" \
	"master/state/x.c:2: includes master/http/y.h: layer master/state may not use layer master/http"

t=$(clean ground)
put "$t" common/x.c common/log.h raft/raft.h
fail "common/ includes raft/" "$t" \
	"common/x.c:2: includes raft/raft.h: layer common may not use layer raft"

t=$(clean ground2)
put "$t" raft/x.h common/log.h
fail "raft/ includes common/" "$t" \
	"raft/x.h:1: includes common/log.h: layer raft may not use layer common"

t=$(clean sideways)
put "$t" rebuild/x.c master/state/index.h
put "$t" volume/y.c raft/raft.h
fail "tools may use common/ only" "$t" \
	"rebuild/x.c:1: includes master/state/index.h: layer rebuild may not use layer master/state" \
	"volume/y.c:1: includes raft/raft.h: layer volume may not use layer raft"

t=$(clean interface)
put "$t" master/repl/snapshot.h master/state/lmdbenv.h master/state/index.h
fail "master/repl/ sees master/state/ only through lmdbenv.h" "$t" \
	"master/repl/snapshot.h:2: includes master/state/index.h: layer master/repl may not use layer master/state"

t=$(clean relative)
put "$t" master/state/z.c ../http/api.h
fail "an include relative to the file counts" "$t" \
	"master/state/z.c:1: includes ../http/api.h: layer master/state may not use layer master/http"

t=$(clean nolayer)
put "$t" foo/x.c common/log.h
fail "a folder missing from the table" "$t" "foo/x.c:1: in no layer"

t=$(clean cycle)
put "$t" common/a.h common/b.h
put "$t" common/b.h common/log.h common/a.h
fail "header cycle" "$t" "cycle: common/a -> common/b -> common/a"

t=$(clean modcycle)
# x/y.c and x/y.h are one module: no header includes the other's header,
# yet the modules use each other.
put "$t" master/write/p.h
put "$t" master/write/p.c master/write/p.h master/write/q.h
put "$t" master/write/q.h
put "$t" master/write/q.c master/write/q.h master/write/p.h
fail "module cycle through .c files" "$t" \
	"cycle: master/write/p -> master/write/q -> master/write/p"

t=$(clean longcycle)
put "$t" master/repl/a.h master/repl/b.h
put "$t" master/repl/b.h master/repl/c.h
put "$t" master/repl/c.h master/repl/a.h
fail "three-module cycle" "$t" \
	"cycle: master/repl/a -> master/repl/b -> master/repl/c -> master/repl/a"

t=$(clean private)
put "$t" volume/bitcask_int.h volume/bitcask.h
put "$t" volume/bitcask.c volume/bitcask.h volume/bitcask_int.h
pass "a private header x_int.h is part of module x" "$t"
put "$t" volume/merge.h volume/bitcask_int.h
put "$t" volume/bitcask_int.h volume/bitcask.h volume/merge.h
fail "a private header's cycle with another module" "$t" \
	"cycle: volume/bitcask -> volume/merge -> volume/bitcask"

t=$(clean rafttests)
put "$t" raft/tests/test_raft.c raft/raft.h tests/harness.h
fail "raft/tests/ uses the core alone" "$t" \
	"raft/tests/test_raft.c:2: includes tests/harness.h"

if command -v git >/dev/null 2>&1; then
	# At the top of a git work tree only tracked files count.
	t=$(clean git)
	put "$t" master/state/tracked.c master/http/api.h
	put "$t" master/state/untracked.c master/http/api.h
	(cd "$t" && git init -q && git add raft common volume master rebuild \
		tests config.h && git rm -q --cached master/state/untracked.c) \
		>/dev/null 2>&1
	out=$($check "$t" 2>&1)
	if printf '%s\n' "$out" | grep -q 'master/state/tracked.c:1:' &&
		! printf '%s\n' "$out" | grep -q untracked; then
		echo "ok: git work tree: tracked files only"
	else
		echo "FAIL: git work tree: tracked files only; output:"
		echo "$out"
		fails=$((fails + 1))
	fi
fi

# The real tree. EXPECTED TO FAIL until the branches that remove today's
# violations (master/repl/ <-> master/write/commit, master/repl/members <->
# node, master/repl/ including master/state/index.h) are merged; once they
# are, this must pass.
out=$($check "$src" 2>&1)
rc=$?
if [ $rc -eq 0 ] && [ -z "$out" ]; then
	echo "ok: real source tree $src"
else
	echo "FAIL: real source tree $src (exit $rc):"
	echo "$out"
	fails=$((fails + 1))
fi

[ $fails -eq 0 ] || {
	echo "$fails failed"
	exit 1
}
