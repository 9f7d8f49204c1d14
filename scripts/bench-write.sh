#!/bin/sh
# The write path on minikeyvalue's own benchmark (issue 17): cask-thrasher
# -mkv (PUT, GET following the 302, DELETE; no GET after the DELETE) of
# fresh keys against 5 volumes (-sync batch) and masters keeping 3
# replicas, for 1 and 3 masters x 16 and 64 workers x 25 B and 4 KiB
# values x the requests sent to one master URL or to all of them. With 3
# masters "one URL" is the leader's (a follower would add a 307 to every
# write); with 1 master one URL is all of them.
#
# Each configuration runs against two builds: the commit the issue starts
# from (BENCH_BASE, built in <CASK_BIN>/bench-base, a git worktree kept and
# reused) and the tree under test (CASK_BIN), interleaved (base, current,
# base, current, ...) because load on shared machines shifts within
# seconds. Both are driven by the current cask-thrasher. Every run gets a
# fresh cluster on ephemeral ports in a temp folder.
#
# A run's window opens just before the thrasher starts and closes once the
# leader's cask_master_purge_queue is back to 0: a DELETE answers before
# its copies are purged, and that work belongs to the run. Server CPU is
# the machine's busy time over the window (/proc/stat: everything but idle
# and iowait), minus the thrasher's own cpu_us, minus what this script's
# helpers (curl, awk, sleep while polling the queue) used, divided by the
# sequences. It is only meaningful on an otherwise idle machine.
#
# Prints a markdown table; p50/p99 are means over the rounds of each
# run's percentiles, seq/s and CPU means over the rounds, with each
# round's seq/s in parentheses.
#
#   CASK_BIN            build folder of the tree under test (default: .)
#   CASK_SRC            its source tree, a git work tree (default: this
#                       script's)
#   BENCH_BASE          commit to compare with (default c3e3f36); empty:
#                       the current build only
#   BENCH_WRITE_N       sequences per run (default 10000)
#   BENCH_WRITE_ROUNDS  runs of each configuration per build (default 2)
#   BENCH_WRITE_CONFIGS configurations to run, shell patterns separated by
#                       spaces or commas, matched against the names in the
#                       table: m1-c16-25B, m1-c64-4K, m3-c16-25B-leader,
#                       m3-c64-4K-all, ... (default: all 12)
#   BENCH_WRITE_THREADS set: after each run, print to stderr each thread's
#                       CPU µs per sequence (by daemon and thread name,
#                       the volumes summed), to see where the time goes
set -eu
BIN=$(cd "${CASK_BIN:-.}" && pwd)
SRC=$(cd "${CASK_SRC:-$(dirname "$0")/..}" && pwd)
N=${BENCH_WRITE_N:-10000}
ROUNDS=${BENCH_WRITE_ROUNDS:-2}
SELECT=${BENCH_WRITE_CONFIGS:-*}
BASE=${BENCH_BASE-c3e3f36}
THRASHER=$BIN/cask-thrasher
. "$(dirname "$0")/benchlib.sh"
bench_init write

die() {
	echo "bench-write: $*" >&2
	exit 1
}

# --- the base build -------------------------------------------------------

# Keeps <CASK_BIN>/bench-base out of `git status` when the build folder is
# inside the source tree and not ignored already (/build*/ is).
ignore_base() {
	case $1 in
	"$SRC"/*) ;;
	*) return 0 ;;
	esac
	git -C "$SRC" check-ignore -q "$1" && return 0
	common=$(cd "$SRC" && cd "$(git rev-parse --git-common-dir)" && pwd)
	mkdir -p "$common/info"
	echo "/${1#"$SRC"/}/" >>"$common/info/exclude"
}

# Sets BASE_BIN to a build of BASE made with the flags CASK_BIN was
# configured with; reused while its stamp names that commit and those
# flags.
build_base() {
	BASE_BIN=""
	[ -n "$BASE" ] || return 0
	if ! commit=$(git -C "$SRC" rev-parse -q --verify "$BASE^{commit}"); then
		echo "bench-write: $BASE is not a commit of $SRC; current build only" >&2
		return 0
	fi
	flags=$(cd "$BIN" && ./config.status --config)
	wt=$BIN/bench-base
	stamp="$commit $flags"
	if [ -f "$wt/build/.bench-stamp" ] &&
		[ "$(cat "$wt/build/.bench-stamp")" = "$stamp" ] &&
		[ -x "$wt/build/cask-master" ] && [ -x "$wt/build/cask-volume" ]; then
		BASE_BIN=$wt/build
		return 0
	fi
	echo "bench-write: building $BASE ($commit) in $wt" >&2
	if [ -e "$wt/.git" ]; then
		git -C "$wt" checkout -q --detach "$commit"
	else
		# A build folder deleted by hand leaves its worktree registered.
		git -C "$SRC" worktree prune
		git -C "$SRC" worktree add -q --detach "$wt" "$commit"
	fi
	ignore_base "$wt"
	rm -f "$wt/build/.bench-stamp"
	mkdir -p "$wt/build"
	if ! (cd "$wt" && autoreconf -fi && cd build &&
		eval "../configure $flags" &&
		make -j"$(nproc)" cask-master cask-volume) >"$wt/build.log" 2>&1; then
		tail -20 "$wt/build.log" >&2
		die "building $BASE failed (log: $wt/build.log)"
	fi
	echo "$stamp" >"$wt/build/.bench-stamp"
	BASE_BIN=$wt/build
}

# --- one run --------------------------------------------------------------

# Starts 5 volumes and $2 masters from build folder $1 in $RUN_DIR; sets
# URLS (every master) and LEADER. The daemons' pids are in RUN_PIDS (and
# PIDS, so an interrupted run is stopped too).
start_cluster() {
	RUN_PIDS=""
	LABELLED=""
	vols=""
	ports=""
	for i in 1 2 3 4 5; do
		p=$(free_port)
		"$1/cask-volume" $(secret_flags "$1/cask-volume") -port "$p" -bind 127.0.0.1 -dir "$RUN_DIR/v$i" \
			-sync batch -log-level warn >"$RUN_DIR/v$i.log" 2>&1 &
		RUN_PIDS="$RUN_PIDS $!"
		LABELLED="$LABELLED volumes:$!"
		ports="$ports $p"
		vols="$vols${vols:+,}127.0.0.1:$p"
	done
	PIDS="$PIDS $RUN_PIDS"
	for p in $ports; do wait_up "$p"; done
	VOL_URLS=$(echo "$vols" | sed 's|127|http://127|g')
	ports=""
	peers=""
	for i in $(seq "$2"); do
		p=$(free_port)
		ports="$ports $p"
		peers="$peers${peers:+,}$i=http://127.0.0.1:$p"
	done
	URLS=""
	MASTER_PIDS=""
	i=0
	for p in $ports; do
		i=$((i + 1))
		replicated=""
		[ "$2" -gt 1 ] && replicated="-id $i -peers $peers"
		# shellcheck disable=SC2086 # $replicated is flags or nothing
		"$1/cask-master" $(secret_flags "$1/cask-master") -port "$p" -bind 127.0.0.1 -db "$RUN_DIR/m$i" \
			-volumes "$vols" -replicas 3 -log-level warn $replicated \
			>"$RUN_DIR/m$i.log" 2>&1 &
		MASTER_PIDS="$MASTER_PIDS $!"
		LABELLED="$LABELLED m$i:$!"
		URLS="$URLS${URLS:+,}http://127.0.0.1:$p"
	done
	PIDS="$PIDS $MASTER_PIDS"
	for p in $ports; do wait_up "$p"; done
	# Once a write goes through a leader is elected and every volume is
	# known healthy.
	tries=0
	until curl -s -f -L -X PUT -d x -o /dev/null "${URLS%%,*}/_bench_ready"; do
		tries=$((tries + 1))
		[ $tries -lt 400 ] || die "the cluster in $RUN_DIR takes no write"
		sleep 0.05
	done
	LEADER=${URLS%%,*}
	for u in $(echo "$URLS" | tr ',' ' '); do
		if curl -s "$u/_/status" | grep -q '"role":"leader"'; then
			LEADER=$u
		fi
	done
}

stop_cluster() {
	for p in $MASTER_PIDS; do kill "$p" 2>/dev/null || true; done
	for p in $MASTER_PIDS; do wait "$p" 2>/dev/null || true; done
	for p in $RUN_PIDS; do kill "$p" 2>/dev/null || true; done
	for p in $RUN_PIDS; do wait "$p" 2>/dev/null || true; done
	PIDS=$PIDS_OUTSIDE
	rm -rf "$RUN_DIR"
}

queue() { # the leader's purge queue length
	curl -s "$LEADER/_/metrics" | awk '/^cask_master_purge_queue / {print $2}'
}

json() { # field -> number from the thrasher's JSON
	sed -n "s/.*\"$1\":\([0-9.]*\).*/\1/p" "$RUN_DIR/out.json"
}
lat() { # op -> "p50 p99" in ms from the thrasher's JSON
	sed -n "s/.*\"$1\":{[^}]*\"p50\":\([0-9.]*\),\"p90\":[0-9.]*,\"p99\":\([0-9.]*\).*/\1 \2/p" \
		"$RUN_DIR/out.json"
}

# "label thread jiffies" for every thread of the daemons, and "label
# (process) jiffies" for each whole process, which also holds the threads
# that have exited (a volume's per-DELETE threads, for one).
threads() {
	for lp in $LABELLED; do
		awk -v l="${lp%%:*}" '{
			c = $0; sub(/^[^(]*\(/, "", c); sub(/\).*$/, "", c)
			s = $0; sub(/^.*\) /, "", s); split(s, f, " ")
			print l, (FILENAME ~ /task/ ? c : "(process)"), f[12] + f[13]
		}' "/proc/${lp#*:}/stat" "/proc/${lp#*:}"/task/*/stat 2>/dev/null
	done
}

# The fdatasyncs so far: every volume's, then every master's Raft log's.
syncs() {
	vs=0
	for u in $(echo "$VOL_URLS" | tr ',' ' '); do
		n=$(curl -s "$u/_/metrics" | awk '/^cask_volume_fsyncs_total / {print $2}')
		vs=$((vs + ${n:-0}))
	done
	ms=0
	for u in $(echo "$URLS" | tr ',' ' '); do
		n=$(curl -s "$u/_/metrics" | awk '/^cask_master_raft_log_syncs_total / {print $2}')
		ms=$((ms + ${n:-0}))
	done
	echo "$vs $ms"
}

# per_thread BEFORE AFTER SEQUENCES: the difference, µs per sequence.
per_thread() {
	awk -v n="$3" -v hz="$(getconf CLK_TCK)" '
		FNR == NR { a[$1 " " $2] -= $3; next }
		{ a[$1 " " $2] += $3 }
		END { for (k in a) if (a[k] > 0) printf "%8.0f  %s\n", a[k] * 1e6 / hz / n, k }' \
		"$1" "$2" | sort -rn | head -25 >&2
}

RUN=0
# run NAME BUILD-LABEL BUILD-DIR MASTERS WORKERS SIZE URLMODE ROUND
run() {
	RUN=$((RUN + 1))
	RUN_DIR=$TMP/run$RUN
	mkdir -p "$RUN_DIR"
	PIDS_OUTSIDE=$PIDS
	start_cluster "$3" "$4"
	urls=$URLS
	[ "$7" = one ] && urls=$LEADER
	if [ -n "${BENCH_WRITE_THREADS:-}" ]; then
		threads >"$RUN_DIR/threads0"
		syncs0=$(syncs)
	fi
	o0=$(own_jiffies)
	b0=$(busy_jiffies)
	"$THRASHER" -masters "$urls" -n "$N" -c "$5" -size "$6" -mkv -json \
		-prefix "/w$RUN/" >"$RUN_DIR/out.json" 2>"$RUN_DIR/thrasher.err" ||
		{
			keep=$(mktemp -d /tmp/cask-bench-write-failed-XXXXXX)
			cp "$RUN_DIR"/*.log "$RUN_DIR"/thrasher.err "$keep"/
			head -5 "$RUN_DIR/thrasher.err" >&2
			# 503 says "retry": the cluster lost its leader (c3e3f36
			# does under this load, often about 4,800 sequences in,
			# near its first log compaction). Such a run is repeated,
			# up to twice, and counted; wrong bytes are not.
			if [ "${REPEATS:-0}" -lt 2 ] &&
				! grep -v -e 'status 503' -e 'more wrong answers' \
					"$RUN_DIR/thrasher.err" | grep -q .; then
				echo "bench-write: $1 on $2: 503s (logs in $keep), run repeated" >&2
				echo "$1 $2" >>"$TMP/repeated"
				stop_cluster
				REPEATS=$((${REPEATS:-0} + 1))
				run "$@"
				REPEATS=0
				return
			fi
			die "$1 on $2: the thrasher got wrong answers (logs in $keep)"
		}
	waited=0
	until [ "$(queue)" = 0 ]; do
		waited=$((waited + 1))
		[ $waited -lt 1200 ] || die "$1 on $2: the purge queue did not drain"
		sleep 0.1
	done
	b1=$(busy_jiffies)
	o1=$(own_jiffies)
	for p in $RUN_PIDS $MASTER_PIDS; do
		kill -0 "$p" 2>/dev/null && continue
		keep=$(mktemp -d /tmp/cask-bench-write-failed-XXXXXX)
		cp "$RUN_DIR"/*.log "$keep"/
		die "$1 on $2: a daemon exited during the run (logs in $keep)"
	done
	seqs=$(json sequences)
	if [ -n "${BENCH_WRITE_THREADS:-}" ]; then
		threads >"$RUN_DIR/threads1"
		awk -v n="$seqs" -v a="$syncs0" -v b="$(syncs)" 'BEGIN {
			split(a, x, " "); split(b, y, " ")
			printf "bench-write: fdatasyncs per sequence: volumes %.2f, Raft logs %.2f\n",
				(y[1] - x[1]) / n, (y[2] - x[2]) / n }' >&2
		echo "bench-write: $1 $2 round $8, CPU µs per sequence by thread:" >&2
		per_thread "$RUN_DIR/threads0" "$RUN_DIR/threads1" "$seqs"
	fi
	# shellcheck disable=SC2086,SC2046 # four numbers, one argument each
	set -- "$@" $(server_cpu "$b0" "$b1" "$o0" "$o1" "$(json cpu_us)" "$seqs")
	echo "$1 $2 $8 $(json per_sec) $(lat put) $(lat get) $(lat delete) $9" \
		>>"$TMP/results"
	echo "bench-write: $1 $2 round $8: $(json per_sec) seq/s, $9 µs/seq" \
		"(busy ${10} ms, thrasher ${11} ms, helpers ${12} ms)" >&2
	stop_cluster
}

build_base
CONFIGS=""
for m in 1 3; do
	for c in 16 64; do
		for s in 25B 4K; do
			modes="one"
			[ "$m" = 3 ] && modes="one all"
			for u in $modes; do
				name=m$m-c$c-$s
				[ "$m" = 3 ] && [ "$u" = one ] && name=$name-leader
				[ "$m" = 3 ] && [ "$u" = all ] && name=$name-all
				bench_selected "$name" "$SELECT" || continue
				CONFIGS="$CONFIGS $name"
				for r in $(seq "$ROUNDS"); do
					[ -n "$BASE_BIN" ] &&
						run "$name" base "$BASE_BIN" "$m" "$c" "${s%B}" "$u" "$r"
					run "$name" current "$BIN" "$m" "$c" "${s%B}" "$u" "$r"
				done
			done
		done
	done
done
[ -n "$CONFIGS" ] || die "BENCH_WRITE_CONFIGS=$SELECT selects nothing"

# --- the table ------------------------------------------------------------

# mean NAME BUILD COLUMN: the mean over the rounds of a results column
# (4 seq/s, 5-10 PUT/GET/DELETE p50 and p99, 11 CPU).
mean() {
	awk -v k="$1" -v b="$2" -v f="$3" '$1 == k && $2 == b { s += $f; n++ }
		END { fmt = f == 4 || f == 11 ? "%.0f" : "%.2f"; if (n) printf fmt, s / n }' \
		"$TMP/results"
}
rates() { # NAME BUILD: each round's seq/s
	awk -v k="$1" -v b="$2" '$1 == k && $2 == b { printf "%s%.0f", sep, $4; sep = ", " }' \
		"$TMP/results"
}
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", (b > 0 ? a / b : 0) }'; }
lat_cell() { echo "$(mean "$1" "$2" "$3") / $(mean "$1" "$2" $(($3 + 1)))"; }

echo
echo "Write path, cask-thrasher -mkv (PUT, GET, DELETE), $N sequences a run," \
	"5 volumes -sync batch, 3 replicas; m: masters (leader: all requests" \
	"to the leader, all: spread over every master), c: workers, then the" \
	"value size. Base is $BASE, current the tree under test;" \
	"$ROUNDS interleaved rounds each."
echo
echo "| config | build | seq/s (rounds) | PUT p50 / p99 ms | GET p50 / p99 ms | DELETE p50 / p99 ms | server CPU µs/seq |"
echo "| --- | --- | --- | --- | --- | --- | --- |"
for k in $CONFIGS; do
	builds="current"
	[ -n "$BASE_BIN" ] && builds="base current"
	for b in $builds; do
		echo "| $k | $b | $(mean "$k" "$b" 4) ($(rates "$k" "$b")) |" \
			"$(lat_cell "$k" "$b" 5) | $(lat_cell "$k" "$b" 7) |" \
			"$(lat_cell "$k" "$b" 9) | $(mean "$k" "$b" 11) |"
	done
	[ -n "$BASE_BIN" ] || continue
	cells=""
	for f in 5 7 9; do
		cells="$cells | $(ratio "$(mean "$k" current $f)" "$(mean "$k" base $f)")"
		cells="$cells / $(ratio "$(mean "$k" current $((f + 1)))" "$(mean "$k" base $((f + 1)))")"
	done
	rounds=$(awk -v k="$k" '$1 == k { v[$2 "," $3] = $4 }
		END { for (r = 1; ("base," r) in v; r++)
			printf "%s%.2f", (r > 1 ? ", " : ""), v["current," r] / v["base," r] }' \
		"$TMP/results")
	echo "| $k | current / base | $(ratio "$(mean "$k" current 4)" "$(mean "$k" base 4)") ($rounds)$cells |" \
		"$(ratio "$(mean "$k" current 11)" "$(mean "$k" base 11)") |"
done
if [ -s "$TMP/repeated" ]; then
	echo
	echo "Runs repeated after 503s (leader lost):" \
		"$(sort "$TMP/repeated" | uniq -c | awk '{ printf "%s%s on %s x%s", sep, $2, $3, $1; sep = ", " }')."
fi
