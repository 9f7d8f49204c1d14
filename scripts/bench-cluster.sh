#!/bin/sh
# Replicated masters against a master alone, in the same run, on the same
# 3 volumes: cask-thrasher PUT/GET/DELETE/GET sequences (4 KiB, 16 and 64
# workers), spread over every master of the cluster under test, and
# again through its leader alone, which shows what the 307s and the reads
# on followers cost. PUT
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

# A run ends when the thrasher is done and the purge queue it filled is
# empty again: DELETE answers before its copies are purged, and a run that
# left its purges to the next one would be measured without a third of
# its volume writes (and charge them to the other configuration).
queue() { # a master's purge queue length
	curl -s "$1/_/metrics" | awk '/^cask_master_purge_queue / {print $2}'
}
now_ms() { date +%s%3N; }
run() { # label, masters, prefix, connections
	t0=$(now_ms)
	"$BIN/cask-thrasher" -masters "$2" -n "$OPS" -c "$4" -size 4096 \
		-prefix "/$3/" -json >"$TMP/$3.json"
	first=${2%%,*}
	until [ "$(queue "$first")" = 0 ]; do sleep 0.05; done
	echo $(($(now_ms) - t0)) >"$TMP/$3.ms"
}
leader() { # the cluster's leader's URL, once one is known (up to 20 s)
	for _ in $(seq 1 400); do
		for p in $PORTS; do
			if curl -s "http://127.0.0.1:$p/_/status" |
				grep -q '"role":"leader"'; then
				echo "http://127.0.0.1:$p"
				return
			fi
		done
		sleep 0.05
	done
	echo "bench: the cluster has no leader" >&2
	exit 1
}
ratio() { awk -v a="$1" -v b="$2" 'BEGIN {printf "%.2f", a / b}'; }
rate() { sed -E 's/.*"per_sec":([0-9]+).*/\1/' "$1.json"; }
sustained() { awk -v n="$OPS" '{printf "%d", n * 1000 / $1}' "$1.ms"; }
put_lat() { # p50 and p99 of PUT, in ms
	sed -E 's/.*"put":\{[^}]*"p50":([0-9.]+),"p90":[0-9.]+,"p99":([0-9.]+).*/p50 \1 ms, p99 \2 ms/' "$1.json"
}

# Interleaved, twice at each load: 16 connections (latency-bound) and 64
# (saturating the 2 cores that every daemon and the thrasher share).
for c in 16 64; do
	for r in a b; do
		run solo "http://127.0.0.1:$solo" "solo-$c$r" "$c"
		run cluster "$URLS" "cluster-$c$r" "$c"
		run leader "$(leader)" "leader-$c$r" "$c"
	done
done

for c in 16 64; do
	for r in a b; do
		s=$TMP/solo-$c$r
		k=$TMP/cluster-$c$r
		printf '| thrasher 4 KiB, -c %s, 1 master (run %s) | %s seq/s (%s with its purges done), PUT %s |\n' \
			"$c" "$r" "$(rate "$s")" "$(sustained "$s")" "$(put_lat "$s")"
		printf '| thrasher 4 KiB, -c %s, 3 masters (run %s) | %s seq/s (%s with its purges done), PUT %s |\n' \
			"$c" "$r" "$(rate "$k")" "$(sustained "$k")" "$(put_lat "$k")"
		l=$TMP/leader-$c$r
		printf '| 3 masters / 1 master, -c %s (run %s) | %s (with purges done: %s) |\n' \
			"$c" "$r" "$(ratio "$(rate "$k")" "$(rate "$s")")" \
			"$(ratio "$(sustained "$k")" "$(sustained "$s")")"
		printf '| 3 masters through the leader alone / 1 master, -c %s (run %s) | %s (with purges done: %s) |\n' \
			"$c" "$r" "$(ratio "$(rate "$l")" "$(rate "$s")")" \
			"$(ratio "$(sustained "$l")" "$(sustained "$s")")"
	done
done
