#!/bin/sh
# Replicated masters against a master alone, in the same run, on the same
# 3 volumes: cask-thrasher PUT/GET/DELETE/GET sequences (4 KiB, 16
# workers), spread over every master of the cluster under test. PUT
# latency includes the index commit: one synced LMDB transaction alone,
# a Raft round (leader append + a majority's synced append) with 3.
# Prints markdown rows (| what | figure |).
#   CASK_BIN          folder with the binaries
#   BENCH_CLUSTER_OPS sequences per run (default 5000)
set -eu
BIN=${CASK_BIN:-.}
OPS=${BENCH_CLUSTER_OPS:-5000}
. "$(dirname "$0")/benchlib.sh"
bench_init cluster
spawn() { # log, command...
	log=$1
	shift
	"$@" -log-level warn >"$log" 2>&1 &
	PIDS="$PIDS $!"
}

VOLS=""
for i in 1 2 3; do
	p=$(free_port)
	spawn "$TMP/v$i.log" "$BIN/cask-volume" -port "$p" -bind 127.0.0.1 -dir "$TMP/v$i"
	wait_up "$p"
	VOLS="$VOLS${VOLS:+,}127.0.0.1:$p"
done

solo=$(free_port)
spawn "$TMP/solo.log" "$BIN/cask-master" -port "$solo" -bind 127.0.0.1 \
	-db "$TMP/solo" -volumes "$VOLS"
wait_up "$solo"

PORTS="$(free_port) $(free_port) $(free_port)"
PEERS=""
i=0
for p in $PORTS; do
	i=$((i + 1))
	PEERS="$PEERS${PEERS:+,}$i=http://127.0.0.1:$p"
done
i=0
URLS=""
for p in $PORTS; do
	i=$((i + 1))
	spawn "$TMP/m$i.log" "$BIN/cask-master" -id "$i" -port "$p" \
		-bind 127.0.0.1 -peers "$PEERS" -db "$TMP/m$i" -volumes "$VOLS"
	URLS="$URLS${URLS:+,}http://127.0.0.1:$p"
done
for p in $PORTS; do wait_up "$p"; done
# A leader is elected once a write goes through.
until curl -s -f -L -X PUT -d x "http://127.0.0.1:${PORTS%% *}/_bench_ready" >/dev/null; do
	sleep 0.05
done

run() { # label, masters, prefix
	"$BIN/cask-thrasher" -masters "$2" -n "$OPS" -c 16 -size 4096 \
		-prefix "/$3/" -json >"$TMP/$3.json"
}
rate() { sed -E 's/.*"per_sec":([0-9]+).*/\1/' "$1"; }
put_lat() { # p50 and p99 of PUT, in ms
	sed -E 's/.*"put":\{[^}]*"p50":([0-9.]+),"p90":[0-9.]+,"p99":([0-9.]+).*/p50 \1 ms, p99 \2 ms/' "$1"
}

run solo "http://127.0.0.1:$solo" solo-a
run cluster "$URLS" cluster-a
run solo "http://127.0.0.1:$solo" solo-b
run cluster "$URLS" cluster-b

for r in a b; do
	s=$(rate "$TMP/solo-$r.json")
	c=$(rate "$TMP/cluster-$r.json")
	printf '| thrasher 4 KiB, 1 master (run %s) | %s seq/s, PUT %s |\n' \
		"$r" "$s" "$(put_lat "$TMP/solo-$r.json")"
	printf '| thrasher 4 KiB, 3 masters (run %s) | %s seq/s, PUT %s |\n' \
		"$r" "$c" "$(put_lat "$TMP/cluster-$r.json")"
	printf '| 3 masters / 1 master (run %s) | %s |\n' "$r" \
		"$(awk -v a="$c" -v b="$s" 'BEGIN {printf "%.2f", a / b}')"
done
