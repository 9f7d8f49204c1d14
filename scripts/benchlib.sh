# Sourced by the benchmark scripts (POSIX sh): a temp folder and the
# daemons started in it are removed and stopped at exit, whatever happens.
#   bench_init NAME      makes $TMP (/tmp/cask-bench-NAME-XXXXXX)
#   bench_bg CMD...      runs CMD in the background, stopped at exit
#   free_port            a TCP port on 127.0.0.1 that was free a moment ago
#   wait_up PORT [PATH]  polls http://127.0.0.1:PORT/PATH (/_/health) until
#                        it answers; gives up after 20 s

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
