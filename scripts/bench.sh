#!/usr/bin/env bash
# `make bench`: every benchmark, printed as one markdown table.
#
# In-process rows come from the programs in $BENCH_PROGRAMS. HTTP rows put
# cask-volume and nginx side by side in the same run, on the same bytes,
# with the same wrk load, because absolute figures drift on shared
# machines: hot (in page cache) and cold (evicted with fadvise) 4 KiB GETs,
# then durable 4 KiB PUTs at 64 connections. Then the other bench-*.sh
# scripts; bench-write.sh (the write path on minikeyvalue's workload,
# against the commit BENCH_BASE too) prints a table of its own, last.
set -euo pipefail
bin=${CASK_BIN:?run through make bench}
src=${CASK_SRC:?run through make bench}
keys=${BENCH_KEYS:-50000}   # cold set: 4 KiB each
secs=${BENCH_SECONDS:-5}
conns=${BENCH_CONNS:-64}

. "$src/scripts/benchlib.sh"
bench_init volume

row() { printf '| %s | %s |\n' "$1" "$2"; }

# wrk prints "Requests/sec: N"; keep the integer part.
wrk_rate() { awk '/^Requests\/sec/ {printf "%d", $2}'; }
wrk_p99() { awk '$1 == "99%" {print $2}'; }

echo "| benchmark | result |"
echo "| --- | --- |"

for p in ${BENCH_PROGRAMS:-}; do
	"$bin/$p"
done

# --- data: the same 4 KiB blobs as files for nginx and keys for cask ---
mkdir -p "$TMP/www/k" "$TMP/vol"
head -c $((4096 * keys)) /dev/urandom |
	split -b 4096 -a 5 -d - "$TMP/www/k/"

vport=$(free_port)
bench_bg "$bin/cask-volume" -port "$vport" -bind 127.0.0.1 -dir "$TMP/vol" \
	-sync batch -log-level warn >"$TMP/volume.log" 2>&1
wait_up "$vport"

nport=$(free_port)
cat >"$TMP/nginx.conf" <<EOF
worker_processes 2;
daemon off;
pid $TMP/nginx.pid;
error_log $TMP/nginx.err warn;
events { worker_connections 4096; }
http {
	access_log off;
	sendfile on;
	tcp_nopush on;
	keepalive_requests 1000000;
	client_body_temp_path $TMP/nginx-body;
	proxy_temp_path $TMP/nginx-proxy;
	fastcgi_temp_path $TMP/nginx-fcgi;
	uwsgi_temp_path $TMP/nginx-uwsgi;
	scgi_temp_path $TMP/nginx-scgi;
	server {
		listen 127.0.0.1:$nport;
		root $TMP/www;
	}
}
EOF
bench_bg nginx -c "$TMP/nginx.conf" -e "$TMP/nginx.err"
wait_up "$nport" /k/00000

# Load the same bytes into cask: 8 curl processes, one connection each.
per=$(((keys + 7) / 8))
loaders=()
for w in $(seq 0 7); do
	lo=$((w * per))
	hi=$((lo + per - 1))
	[ $hi -ge $keys ] && hi=$((keys - 1))
	[ $lo -gt $hi ] && continue
	(
		for i in $(seq -f %05g $lo $hi); do
			printf 'url = "http://127.0.0.1:%s/k/%s"\nupload-file = "%s"\noutput = "/dev/null"\n' \
				"$vport" "$i" "$TMP/www/k/$i"
		done
	) >"$TMP/curl$w.cfg"
	curl -s -f -K "$TMP/curl$w.cfg" &
	loaders+=($!)
done
for l in "${loaders[@]}"; do wait "$l"; done

cat >"$TMP/get.lua" <<EOF
local n = tonumber(os.getenv("NKEYS"))
math.randomseed(os.time())
request = function()
	return wrk.format("GET", string.format("/k/%05d", math.random(0, n - 1)))
end
EOF

# Interleaved rounds, each ratio the median of the rounds' ratios: load on
# these shared machines shifts within seconds.
rounds=${BENCH_ROUNDS:-3}
median() { sort -n | awk '{v[NR] = $1} END {print v[int((NR + 1) / 2)]}'; }

get_pair() { # label, nkeys, evict?
	local label=$1 n=$2 evict=$3 c nx
	: >"$TMP/pair"
	for _ in $(seq "$rounds"); do
		if [ "$evict" = 1 ]; then "$bin/tests/bench_evict" "$TMP/vol" 2>/dev/null; fi
		c=$(NKEYS=$n wrk -t1 -c"$conns" -d"${secs}s" -s "$TMP/get.lua" \
			"http://127.0.0.1:$vport" | wrk_rate)
		if [ "$evict" = 1 ]; then "$bin/tests/bench_evict" "$TMP/www" 2>/dev/null; fi
		nx=$(NKEYS=$n wrk -t1 -c"$conns" -d"${secs}s" -s "$TMP/get.lua" \
			"http://127.0.0.1:$nport" | wrk_rate)
		echo "$c $nx" >>"$TMP/pair"
	done
	row "GET 4 KiB $label, cask-volume (wrk -t1 -c$conns, median of $rounds interleaved rounds)" \
		"$(awk '{print $1}' "$TMP/pair" | median) req/s"
	row "GET 4 KiB $label, nginx (same files, same load)" \
		"$(awk '{print $2}' "$TMP/pair" | median) req/s"
	row "GET 4 KiB $label, cask / nginx" \
		"median $(awk '{printf "%.2f\n", $1 / $2}' "$TMP/pair" | median) (rounds: $(awk '{printf "%.2f ", $1 / $2}' "$TMP/pair"))"
}

# Hot: 1000 keys, warmed by a first pass.
NKEYS=1000 wrk -t1 -c"$conns" -d1s -s "$TMP/get.lua" "http://127.0.0.1:$vport" >/dev/null
NKEYS=1000 wrk -t1 -c"$conns" -d1s -s "$TMP/get.lua" "http://127.0.0.1:$nport" >/dev/null
get_pair "hot (1000 keys cached)" 1000 0
get_pair "cold ($keys keys, evicted)" "$keys" 1

# Durable PUTs: unique keys, group commit, writes per fsync from /_/status.
cat >"$TMP/put.lua" <<'EOF'
local counter = 0
local tid = 0
local threads = 0
setup = function(thread)
	thread:set("tid", threads)
	threads = threads + 1
end
wrk.method = "PUT"
wrk.body = string.rep("v", 4096)
request = function()
	counter = counter + 1
	return wrk.format(nil, "/put/" .. tid .. "/" .. counter)
end
EOF
stat_field() { curl -s "http://127.0.0.1:$vport/_/status" | sed -E "s/.*\"$1\":([0-9]+).*/\1/"; }
s0=$(stat_field syncs)
w0=$(stat_field synced_writes)
out=$(wrk -t1 -c"$conns" -d"${secs}s" -s "$TMP/put.lua" --latency "http://127.0.0.1:$vport")
s1=$(stat_field syncs)
w1=$(stat_field synced_writes)
row "PUT 4 KiB durable (-sync batch), cask-volume (wrk -t1 -c$conns)" \
	"$(echo "$out" | wrk_rate) req/s, p99 $(echo "$out" | wrk_p99)"
row "PUT 4 KiB: writes per fdatasync" \
	"$(awk -v w=$((w1 - w0)) -v s=$((s1 - s0)) 'BEGIN {printf "%.1f", s ? w / s : 0}')"
if echo "$out" | grep -q 'Non-2xx'; then
	echo "bench: PUT answered errors:" >&2
	echo "$out" >&2
	exit 1
fi

# Scripts that print rows of this table, then those that print tables of
# their own (after it: a markdown table ends at its first other line).
for extra in "$src"/scripts/bench-*.sh; do
	case $extra in */bench-write.sh | */bench-mkv.sh) continue ;; esac
	[ -x "$extra" ] && CASK_BIN=$bin CASK_SRC=$src "$extra"
done
for extra in "$src"/scripts/bench-write.sh "$src"/scripts/bench-mkv.sh; do
	if [ -x "$extra" ]; then CASK_BIN=$bin CASK_SRC=$src "$extra"; fi
done
exit 0
