#!/bin/sh
# Benchmarks the tools and prints markdown table rows (| what | figure |):
# cask-thrasher against 5 volumes with 3 replicas, then cask-rebuild of
# an index destroyed under BENCH_TOOLS_KEYS keys, then cask-rebalance
# after 2 volumes are added. Everything runs on 127.0.0.1 in a temp
# folder that is removed at exit.
#   CASK_BIN          folder with the binaries (default: .)
#   BENCH_TOOLS_KEYS  keys for rebuild and rebalance (default 100000)
#   BENCH_TOOLS_OPS   thrasher sequences (default 10000)
set -eu
BIN=${CASK_BIN:-.}
KEYS=${BENCH_TOOLS_KEYS:-100000}
OPS=${BENCH_TOOLS_OPS:-10000}
. "$(dirname "$0")/benchlib.sh"
bench_init tools
# Not called as $(volume ...): a subshell's PIDS never reach the cleanup,
# and the volume would outlive the script.
volume() { # name -> sets ADDR to host:port
	p=$(free_port)
	"$BIN/cask-volume" $(secret_flags "$BIN/cask-volume") -port "$p" -bind 127.0.0.1 -dir "$TMP/$1" \
		-log-level warn >"$TMP/$1.log" 2>&1 &
	PIDS="$PIDS $!"
	wait_up "$p"
	ADDR="127.0.0.1:$p"
}
MP=$(free_port)
master() {
	"$BIN/cask-master" $(secret_flags "$BIN/cask-master") -port "$MP" -bind 127.0.0.1 -db "$TMP/idx" \
		-volumes "$VOLS" -replicas 3 -log-level warn \
		>>"$TMP/master.log" 2>&1 &
	MPID=$!
	PIDS="$PIDS $MPID"
	wait_up "$MP"
}
json() { # field -> value from a thrasher -json line on stdin
	sed -n "s/.*\"$1\":\([0-9.]*\).*/\1/p"
}

VOLS=""
for i in 1 2 3 4 5; do
	volume "v$i"
	VOLS="$VOLS${VOLS:+,}$ADDR"
done
master

out=$("$BIN/cask-thrasher" -masters "127.0.0.1:$MP" -n "$OPS" -c 16 \
	-size 4K -json)
rate=$(echo "$out" | json per_sec)
lat() { echo "$out" | sed -n "s/.*\"$1\":{[^}]*\"p50\":\([0-9.]*\),\"p90\":\([0-9.]*\),\"p99\":\([0-9.]*\),\"max\":\([0-9.]*\)}.*/\1 \/ \2 \/ \3 \/ \4/p"; }
printf '| thrasher 4 KiB, 16 workers, 5 volumes, 3 replicas | %s PUT/GET/DELETE/GET sequences/s |\n' "$rate"
for op in put get delete get-deleted; do
	printf '| thrasher %s latency p50 / p90 / p99 / max | %s ms |\n' \
		"$op" "$(lat "$op")"
done

# Load KEYS keys (kept), then destroy the index and rebuild it.
"$BIN/cask-thrasher" -masters "127.0.0.1:$MP" -n "$KEYS" -c 32 -size 1K \
	-keep -prefix /bench/ >/dev/null
kill "$MPID"
wait "$MPID" 2>/dev/null || true
rm -rf "$TMP/idx"
master
line=$("$BIN/cask-rebuild" $(secret_flags "$BIN/cask-rebuild") -master "127.0.0.1:$MP" | tail -1)
printf '| rebuild, %s keys x 3 replicas on 5 volumes, index destroyed | %s keys/s |\n' \
	"$KEYS" "$(echo "$line" | sed -n 's/.*(\([0-9]*\) keys\/s).*/\1/p')"

# Two more volumes, then rebalance.
for i in 6 7; do
	volume "v$i"
	"$BIN/cask-admin" $(secret_flags "$BIN/cask-admin") >/dev/null \
		-url "http://127.0.0.1:$MP/_/admin/volumes" -d "{\"add\":\"$ADDR\"}"
done
line=$("$BIN/cask-rebalance" $(secret_flags "$BIN/cask-rebalance") -master "127.0.0.1:$MP" -c 16 | tail -1)
moved=$(echo "$line" | sed -n 's/.*moved \([0-9]*\),.*/\1/p')
secs=$(echo "$line" | sed -n 's/.* in \([0-9.]*\)s.*/\1/p')
printf '| rebalance, %s keys, 5 -> 7 volumes (%s moved) | %s keys checked/s, %s moved/s |\n' \
	"$KEYS" "$moved" "$(echo "$line" | sed -n 's/.*(\([0-9]*\) keys\/s).*/\1/p')" \
	"$(awk -v m="$moved" -v s="$secs" 'BEGIN { printf "%.0f", (s > 0 ? m / s : 0) }')"
