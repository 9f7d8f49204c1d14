# Sourced by the benchmark scripts (POSIX sh): a temp folder and the
# daemons started in it are removed and stopped at exit, whatever happens.
#   bench_init NAME      makes $TMP (/tmp/cask-bench-NAME-XXXXXX)
#   bench_bg CMD...      runs CMD in the background, stopped at exit
#   free_port            a TCP port on 127.0.0.1 that was free a moment ago
#   wait_up PORT [PATH]  polls http://127.0.0.1:PORT/PATH (/_/health) until
#                        it answers; gives up after 20 s
#   secret_flags BIN     "-secret-file $TMP/secret" when BIN (a cask daemon
#                        or tool) takes the flag (an older build may not),
#                        so the benchmark pays for signing as users do
#   busy_jiffies         the machine's busy CPU time so far (/proc/stat)
#   own_jiffies          this shell's CPU time and its waited children's
#   bench_selected NAME PATTERNS
#                        whether NAME matches one of the shell patterns
#                        (spaces or commas between them)
#   server_cpu B0 B1 O0 O1 CLIENT_US N
#                        prints "per-sequence total thrasher helpers": the
#                        servers' CPU per sequence (µs) over a window that
#                        busy_jiffies B0..B1 and own_jiffies O0..O1 bound,
#                        the thrasher (a child of this shell) having used
#                        CLIENT_US for N sequences, then the window's busy,
#                        thrasher and helpers' CPU in ms

PIDS=""

bench_cleanup() {
	for p in $PIDS; do kill "$p" 2>/dev/null || true; done
	for p in $PIDS; do wait "$p" 2>/dev/null || true; done
	rm -rf "$TMP"
}

bench_init() {
	TMP=$(mktemp -d "/tmp/cask-bench-$1-XXXXXX")
	# nginx workers drop root and must read files in here.
	chmod 755 "$TMP"
	trap bench_cleanup EXIT INT TERM
}

bench_bg() {
	"$@" &
	PIDS="$PIDS $!"
}

secret_flags() {
	"$1" -help 2>&1 | grep -q -- -secret-file || return 0
	if [ ! -s "$TMP/secret" ]; then
		(umask 077 && od -An -N32 -tx1 /dev/urandom | tr -d ' \n' >"$TMP/secret")
	fi
	echo "-secret-file $TMP/secret"
}

free_port() {
	python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

wait_up() {
	i=0
	until curl -s -o /dev/null "http://127.0.0.1:$1${2:-/_/health}"; do
		i=$((i + 1))
		if [ $i -gt 400 ]; then
			echo "bench: port $1 did not come up" >&2
			exit 1
		fi
		sleep 0.05
	done
}

# user nice system irq softirq steal: everything but idle and iowait
# (guest time is counted inside user already).
busy_jiffies() {
	awk '/^cpu / {printf "%.0f", $2 + $3 + $4 + $7 + $8 + $9}' /proc/stat
}

# utime stime cutime cstime of this shell: the children it has waited for
# (the thrasher, and curl, awk, sleep of its polling) are in the last two.
own_jiffies() {
	awk '{print $14 + $15 + $16 + $17}' "/proc/$$/stat"
}

# The helpers (this shell's children but the thrasher) are measured at
# jiffy resolution; the thrasher's cpu_us to the microsecond.
server_cpu() {
	awk -v b=$(($2 - $1)) -v o=$(($4 - $3)) -v c="$5" -v n="$6" \
		-v hz="$(getconf CLK_TCK)" 'BEGIN {
		busy = b * 1e6 / hz
		helpers = o * 1e6 / hz - c
		if (helpers < 0) helpers = 0
		printf "%.0f %.0f %.0f %.0f", (busy - c - helpers) / n,
			busy / 1e3, c / 1e3, helpers / 1e3 }'
}

bench_selected() {
	# The patterns are for case, not for the files here.
	set -f
	for pat in $(echo "$2" | tr ',' ' '); do
		# shellcheck disable=SC2254
		case $1 in $pat)
			set +f
			return 0
			;;
		esac
	done
	set +f
	return 1
}
