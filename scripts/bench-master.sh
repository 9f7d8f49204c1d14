#!/bin/sh
# Benchmarks cask-master beside nginx on this machine and prints markdown
# table rows (| what | figure |). Needs wrk and nginx; everything runs on
# 127.0.0.1 ephemeral-ish ports in a temp folder that is removed at exit.
#   CASK_BIN   folder with cask-master and cask-volume (default: .)
#   BENCH_SECS   seconds per wrk run (default 5)
#   BENCH_ROUNDS interleaved rounds of the 302/404 comparison (default 5)
set -eu
BIN=${CASK_BIN:-.}
SECS=${BENCH_SECS:-5}
. "$(dirname "$0")/benchlib.sh"
bench_init master
rate() { # wrk output -> requests/s
	awk '/^Requests\/sec/ {printf "%.0f", $2}'
}

VOLS=""
for i in 1 2 3; do
	p=$(free_port)
	"$BIN/cask-volume" $(secret_flags "$BIN/cask-volume") -port "$p" -bind 127.0.0.1 -dir "$TMP/v$i" \
		>"$TMP/v$i.log" 2>&1 &
	PIDS="$PIDS $!"
	wait_up "$p" /_/health
	VOLS="$VOLS${VOLS:+,}127.0.0.1:$p"
done
MP=$(free_port)
"$BIN/cask-master" $(secret_flags "$BIN/cask-master") -port "$MP" -bind 127.0.0.1 -db "$TMP/idx" \
	-volumes "$VOLS" >"$TMP/master.log" 2>&1 &
PIDS="$PIDS $!"
wait_up "$MP" /_/health

NP=$(free_port)
cat >"$TMP/nginx.conf" <<CONF
daemon off;
worker_processes 2;
pid $TMP/nginx.pid;
error_log $TMP/nginx-error.log;
events { worker_connections 1024; }
http {
	access_log off;
	client_body_temp_path $TMP/nginx-body;
	server {
		listen 127.0.0.1:$NP;
		location / { return 302 http://127.0.0.1:1/x; }
	}
}
CONF
nginx -c "$TMP/nginx.conf" -p "$TMP" >"$TMP/nginx.log" 2>&1 &
PIDS="$PIDS $!"
wait_up "$NP" /

curl -s -o /dev/null -X PUT -d bigswag "http://127.0.0.1:$MP/wehave"

# Load on these shared machines shifts within seconds, so the three are
# run in ROUNDS interleaved rounds and each ratio is the median of the
# rounds' ratios, not one run against another taken later.
ROUNDS=${BENCH_ROUNDS:-5}
r302=""
r404=""
for i in $(seq "$ROUNDS"); do
	n=$(wrk -t1 -c64 -d"${SECS}s" "http://127.0.0.1:$NP/wehave" | rate)
	g=$(wrk -t1 -c64 -d"${SECS}s" "http://127.0.0.1:$MP/wehave" | rate)
	m=$(wrk -t1 -c64 -d"${SECS}s" "http://127.0.0.1:$MP/missing" | rate)
	echo "$n $g $m" >>"$TMP/rounds"
done
median() { sort -n | awk '{v[NR] = $1} END {print v[int((NR + 1) / 2)]}'; }
ratios() { awk -v c="$1" '{printf "%.3f\n", $c / $1}' "$TMP/rounds"; }
col() { awk -v c="$1" '{print $c}' "$TMP/rounds" | median; }
echo "| nginx \`return 302\` (wrk -t1 -c64, median of $ROUNDS interleaved rounds) | $(col 1) req/s |"
echo "| master GET existing key → 302 | $(col 2) req/s; median ratio $(ratios 2 | median)× nginx (rounds: $(ratios 2 | tr '\n' ' ')) |"
echo "| master GET missing key → 404 | $(col 3) req/s; median ratio $(ratios 3 | median)× nginx (rounds: $(ratios 3 | tr '\n' ' ')) |"

# PUT 4 KiB of fresh keys: each wrk connection numbers its own keys.
head -c 4096 /dev/urandom | od -An -tx1 | tr -d ' \n' | head -c 4096 \
	>"$TMP/body"
cat >"$TMP/put.lua" <<'LUA'
local body = io.open(os.getenv("BODY")):read("*a")
local n = 0
local id = 0
local threads = 0
setup = function(thread) threads = threads + 1 end
request = function()
	n = n + 1
	return wrk.format("PUT", "/put/" .. os.getenv("RUN") .. "/" ..
		tostring(math.random(1, 1e9)) .. "-" .. n, nil, body)
end
LUA
for c in 16 64; do
	r=$(BODY="$TMP/body" RUN="c$c" wrk -t1 -c"$c" -d"${SECS}s" \
		-s "$TMP/put.lua" "http://127.0.0.1:$MP" | rate)
	echo "| master PUT 4 KiB, 3 replicas (wrk -t1 -c$c) | $r req/s |"
done

head -c 268435456 /dev/urandom >"$TMP/big"
t0=$(date +%s.%N)
code=$(curl -s -o /dev/null -w '%{http_code}' -X PUT -T "$TMP/big" \
	"http://127.0.0.1:$MP/big256")
t1=$(date +%s.%N)
echo "| master PUT 256 MiB, 3 replicas (curl -T, answer $code) | $(awk "BEGIN{printf \"%.2f\", $t1-$t0}") s |"
