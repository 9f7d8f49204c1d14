#!/bin/sh
# minikeyvalue on the same load as bench-write.sh, for a like-for-like
# comparison: its Go master (built with the system's Go) over 5 nginx
# volumes configured as its own `volume` script does, 3 replicas, driven
# by the current cask-thrasher -mkv at 16 and 64 workers with 25 B and
# 4 KiB values. Its DELETE removes the copies before it answers, so a run's
# window ends with the thrasher; server CPU is accounted as in
# bench-write.sh (benchlib.sh server_cpu). Compare with bench-write.sh's
# m1-* rows, ideally from the same quiet machine and session.
#
# Skipped (exit 0) unless MKV_SRC is set.
#   MKV_SRC            a minikeyvalue checkout, or a bare git repository
#                      of it (its HEAD is used)
#   CASK_BIN           build folder with cask-thrasher (default: .); mkv is
#                      built in <CASK_BIN>/bench-mkv and reused
#   BENCH_WRITE_N      sequences per run (default 10000)
#   BENCH_WRITE_ROUNDS runs of each configuration (default 2)
#   BENCH_WRITE_CONFIGS shell patterns over mkv-c16-25B, mkv-c64-4K, ...
#                      (default: all 4)
set -eu
if [ -z "${MKV_SRC:-}" ]; then
	echo "bench-mkv: MKV_SRC is not set (a minikeyvalue checkout); skipped" >&2
	exit 0
fi
BIN=$(cd "${CASK_BIN:-.}" && pwd)
N=${BENCH_WRITE_N:-10000}
ROUNDS=${BENCH_WRITE_ROUNDS:-2}
SELECT=${BENCH_WRITE_CONFIGS:-*}
. "$(dirname "$0")/benchlib.sh"
bench_init mkv

die() {
	echo "bench-mkv: $*" >&2
	exit 1
}
command -v go >/dev/null || die "needs Go (apt-get install golang-go)"
command -v nginx >/dev/null || die "needs nginx with the dav module"

# --- build mkv -------------------------------------------------------------

OUT=$BIN/bench-mkv
MKV=$OUT/mkv
mkdir -p "$OUT"
# A checkout has go.mod; anything else must be a git directory.
if [ ! -f "$MKV_SRC/go.mod" ]; then
	rev=$(git --git-dir="$MKV_SRC" rev-parse HEAD) ||
		die "MKV_SRC=$MKV_SRC is neither a checkout nor a git directory"
	src=$OUT/src
	if [ "$(cat "$OUT/.stamp" 2>/dev/null)" != "$rev" ]; then
		rm -rf "$src"
		mkdir -p "$src"
		git --git-dir="$MKV_SRC" archive HEAD | tar -x -C "$src"
	fi
else
	src=$(cd "$MKV_SRC" && pwd)
	rev=$(git -C "$src" rev-parse HEAD 2>/dev/null || echo "$src")
fi
if [ "$(cat "$OUT/.stamp" 2>/dev/null)" != "$rev" ] || [ ! -x "$MKV" ]; then
	echo "bench-mkv: building minikeyvalue $rev with $(go version)" >&2
	# Modules first (with a reachable module proxy); else GOPATH mode over
	# Debian's packaged sources (golang-github-syndtr-goleveldb-dev,
	# golang-github-google-uuid-dev).
	(cd "$src" && { go build -o "$MKV" ./src ||
		GO111MODULE=off GOPATH=/usr/share/gocode go build -o "$MKV" ./src; }) \
		>"$OUT/build.log" 2>&1 ||
		{
			tail -20 "$OUT/build.log" >&2
			die "go build failed (log: $OUT/build.log)"
		}
	echo "$rev" >"$OUT/.stamp"
fi

# --- one run ---------------------------------------------------------------

# An nginx volume as minikeyvalue's `volume` script writes it, on
# 127.0.0.1 and with its temp paths in the run's folder.
nginx_volume() { # dir port
	mkdir -p "$1/tmp"
	chmod 777 "$1"
	cat >"$1.conf" <<EOF
daemon off;
worker_processes auto;
pcre_jit on;
error_log $1.err;
pid $1.pid;
events {
	multi_accept on;
	accept_mutex off;
	worker_connections 4096;
}
http {
	sendfile on;
	sendfile_max_chunk 1024k;
	tcp_nopush on;
	tcp_nodelay on;
	open_file_cache off;
	types_hash_max_size 2048;
	server_tokens off;
	default_type application/octet-stream;
	access_log off;
	proxy_temp_path $1/tmp/proxy;
	fastcgi_temp_path $1/tmp/fcgi;
	uwsgi_temp_path $1/tmp/uwsgi;
	scgi_temp_path $1/tmp/scgi;
	server {
		listen 127.0.0.1:$2 default_server backlog=4096;
		location / {
			root $1;
			disable_symlinks off;
			client_body_temp_path $1/body_temp;
			client_max_body_size 0;
			dav_methods PUT DELETE;
			dav_access group:rw all:r;
			create_full_put_path on;
			autoindex on;
			autoindex_format json;
		}
	}
}
EOF
	nginx -c "$1.conf" -p "$1/tmp" -e "$1.err" &
	RUN_PIDS="$RUN_PIDS $!"
}

json() { sed -n "s/.*\"$1\":\([0-9.]*\).*/\1/p" "$RUN_DIR/out.json"; }
lat() {
	sed -n "s/.*\"$1\":{[^}]*\"p50\":\([0-9.]*\),\"p90\":[0-9.]*,\"p99\":\([0-9.]*\).*/\1 \2/p" \
		"$RUN_DIR/out.json"
}

RUN=0
run() { # name workers size round
	RUN=$((RUN + 1))
	RUN_DIR=$TMP/run$RUN
	mkdir -p "$RUN_DIR"
	outside=$PIDS
	RUN_PIDS=""
	vols=""
	ports=""
	for i in 1 2 3 4 5; do
		p=$(free_port)
		nginx_volume "$RUN_DIR/v$i" "$p"
		ports="$ports $p"
		vols="$vols${vols:+,}127.0.0.1:$p"
	done
	PIDS="$PIDS $RUN_PIDS"
	for p in $ports; do wait_up "$p" /; done
	mp=$(free_port)
	"$MKV" -port "$mp" -volumes "$vols" -replicas 3 -db "$RUN_DIR/index" \
		server >"$RUN_DIR/mkv.log" 2>&1 &
	MKV_PID=$!
	PIDS="$PIDS $MKV_PID"
	wait_up "$mp" /
	o0=$(own_jiffies)
	b0=$(busy_jiffies)
	"$BIN/cask-thrasher" -masters "127.0.0.1:$mp" -n "$N" -c "$2" -size "$3" \
		-mkv -json -prefix "/w$RUN/" >"$RUN_DIR/out.json" \
		2>"$RUN_DIR/thrasher.err" || {
		head -20 "$RUN_DIR/thrasher.err" >&2
		die "$1: the thrasher got wrong answers from minikeyvalue"
	}
	b1=$(busy_jiffies)
	o1=$(own_jiffies)
	# shellcheck disable=SC2046 # four numbers, one argument each
	set -- "$@" $(server_cpu "$b0" "$b1" "$o0" "$o1" "$(json cpu_us)" "$(json sequences)")
	echo "$1 $4 $(json per_sec) $(lat put) $(lat get) $(lat delete) $5" >>"$TMP/results"
	echo "bench-mkv: $1 round $4: $(json per_sec) seq/s, $5 µs/seq" \
		"(busy $6 ms, thrasher $7 ms, helpers $8 ms)" >&2
	kill "$MKV_PID" 2>/dev/null || true
	wait "$MKV_PID" 2>/dev/null || true
	for p in $RUN_PIDS; do kill "$p" 2>/dev/null || true; done
	for p in $RUN_PIDS; do wait "$p" 2>/dev/null || true; done
	PIDS=$outside
	rm -rf "$RUN_DIR"
}

CONFIGS=""
for c in 16 64; do
	for s in 25B 4K; do
		name=mkv-c$c-$s
		bench_selected "$name" "$SELECT" || continue
		CONFIGS="$CONFIGS $name"
		for r in $(seq "$ROUNDS"); do run "$name" "$c" "${s%B}" "$r"; done
	done
done
[ -n "$CONFIGS" ] || exit 0

mean() { # name column (3 seq/s, 4-9 p50/p99 PUT GET DELETE, 10 CPU)
	awk -v k="$1" -v f="$2" '$1 == k { s += $f; n++ }
		END { fmt = f == 3 || f == 10 ? "%.0f" : "%.2f"; if (n) printf fmt, s / n }' \
		"$TMP/results"
}
echo
echo "minikeyvalue $rev, the same load as the write-path table: 5 nginx" \
	"volumes, 3 replicas, $N sequences a run, $ROUNDS rounds."
echo
echo "| config | seq/s (rounds) | PUT p50 / p99 ms | GET p50 / p99 ms | DELETE p50 / p99 ms | server CPU µs/seq |"
echo "| --- | --- | --- | --- | --- | --- |"
for k in $CONFIGS; do
	echo "| $k | $(mean "$k" 3) ($(awk -v k="$k" '$1 == k { printf "%s%.0f", sep, $3; sep = ", " }' "$TMP/results")) |" \
		"$(mean "$k" 4) / $(mean "$k" 5) | $(mean "$k" 6) / $(mean "$k" 7) |" \
		"$(mean "$k" 8) / $(mean "$k" 9) | $(mean "$k" 10) |"
done
