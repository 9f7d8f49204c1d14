#!/bin/sh
# Replicated masters against a master alone, in the same run, on the same
# 3 volumes: cask-thrasher PUT/GET/DELETE/GET sequences of 4 KiB, spread
# over every master of the cluster under test, and again through its
# leader alone, which shows what the 307s and the reads on followers cost.
#
# Throughput is capacity: each configuration is driven at 16, 64, 128 and
# 256 workers, twice at each, interleaved, and its peak is the best mean
# of a level's runs. At 16 workers every client waits for each answer, so
# that level measures latency more than capacity; its rows give the
# commit latency: a DELETE is one index commit (a synced LMDB transaction
# alone, a Raft round with 3: leader append + a majority's synced
# append), a PUT that commit behind its volume writes.
# Prints markdown rows (| what | figure |).
#   CASK_BIN          folder with the binaries
#   BENCH_CLUSTER_OPS sequences per run, at least 32 per worker
#                     (default 5000)
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
	spawn "$TMP/v$i.log" "$BIN/cask-volume" $(secret_flags "$BIN/cask-volume") -port "$p" -bind 127.0.0.1 -dir "$TMP/v$i"
	wait_up "$p"
	VOLS="$VOLS${VOLS:+,}127.0.0.1:$p"
done

solo=$(free_port)
spawn "$TMP/solo.log" "$BIN/cask-master" $(secret_flags "$BIN/cask-master") -port "$solo" -bind 127.0.0.1 \
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
	spawn "$TMP/m$i.log" "$BIN/cask-master" $(secret_flags "$BIN/cask-master") -id "$i" -port "$p" \
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
	n=$((32 * $4 > OPS ? 32 * $4 : OPS))
	t0=$(now_ms)
	"$BIN/cask-thrasher" -masters "$2" -n "$n" -c "$4" -size 4096 \
		-prefix "/$3/" -json >"$TMP/$3.json"
	first=${2%%,*}
	until [ "$(queue "$first")" = 0 ]; do sleep 0.05; done
	ms=$(($(now_ms) - t0))
	printf '%s %s %s %s\n' "$1" "$4" \
		"$(sed -E 's/.*"per_sec":([0-9]+).*/\1/' "$TMP/$3.json")" \
		"$((n * 1000 / ms))" >>"$TMP/rates"
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
lat() { # an op's p50 and p99 in ms, from a run's JSON
	sed -E "s/.*\"$2\":\\{[^}]*\"p50\":([0-9.]+),\"p90\":[0-9.]+,\"p99\":([0-9.]+).*/\\1\\/\\2/" "$1.json"
}
peak() { # configuration, column (3: at the thrasher's end, 4: purges done)
	awk -v k="$1" -v f="$2" '$1 == k { s[$2] += $f; n[$2]++ }
		END { for (c in s) if (s[c] / n[c] > best) { best = s[c] / n[c]; at = c }
		      printf "%d %d", best, at }' "$TMP/rates"
}

LEVELS="16 64 128 256"
for c in $LEVELS; do
	for r in a b; do
		run solo "http://127.0.0.1:$solo" "solo-$c$r" "$c"
		run cluster "$URLS" "cluster-$c$r" "$c"
		run leader "$(leader)" "leader-$c$r" "$c"
	done
done

# Each level: the runs' rates, 1 master / 3 masters / 3 through the leader.
for c in $LEVELS; do
	row=""
	for k in solo cluster leader; do
		row="$row${row:+ / }$(awk -v k="$k" -v c="$c" '$1 == k && $2 == c { printf "%s%d", sep, $3; sep = ", " }' "$TMP/rates")"
	done
	printf '| thrasher 4 KiB, -c %s: 1 master / 3 masters / 3 masters through their leader, seq/s per run | %s |\n' "$c" "$row"
done
for r in a b; do
	printf '| commit latency at -c 16 (run %s), p50/p99 ms | DELETE: 1 master %s, 3 masters %s; PUT: 1 master %s, 3 masters %s |\n' \
		"$r" "$(lat "$TMP/solo-16$r" delete)" "$(lat "$TMP/cluster-16$r" delete)" \
		"$(lat "$TMP/solo-16$r" put)" "$(lat "$TMP/cluster-16$r" put)"
done
for f in 3 4; do
	what="at the thrasher's end"
	[ "$f" = 4 ] && what="until the run's purges are done"
	read -r sb sc cb cc lb lc <<-EOF
	$(peak solo "$f") $(peak cluster "$f") $(peak leader "$f")
	EOF
	printf '| peak throughput %s: 1 master / 3 masters / 3 through their leader (seq/s at -c) | %s at %s / %s at %s / %s at %s: 3 masters %s×, through the leader %s× |\n' \
		"$what" "$sb" "$sc" "$cb" "$cc" "$lb" "$lc" "$(ratio "$cb" "$sb")" "$(ratio "$lb" "$sb")"
done
awk '$2 == 16 { r[$1] += $3 } END { printf "| latency-bound: 3 masters / 1 master at -c 16, mean of the runs | %.2f× |\n", r["cluster"] / r["solo"] }' "$TMP/rates"
