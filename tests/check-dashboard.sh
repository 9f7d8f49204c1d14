#!/usr/bin/env bash
# Checks that every metric the Grafana dashboard dist/grafana-cask.json asks
# Prometheus for is one the daemons export, so a renamed or dropped metric
# fails here instead of leaving a blank panel nobody notices. Starts a real
# volume and a master (a one-member Raft group, so the cask_master_raft_*
# series exist) from the build folder ($CASK_BIN, else .) on 127.0.0.1
# ephemeral ports in a temp folder, sends a PUT, a GET and a DELETE through
# the master so the per-request series exist on both, starts an S3 gateway
# (cask-s3) in front of the master and sends it a bucket's PUT and DELETE
# and an object's PUT, GET and DELETE, SigV4-signed (curl --aws-sigv4),
# and one unsigned request, scrapes the three /_/metrics, and fails naming
# each cask_* name of the dashboard (PromQL expressions and variable
# queries) that no scraped sample has; a histogram
# counts by its _bucket/_sum/_count samples. Also checks the JSON is a
# dashboard (unique panel ids, every target has an expression and the
# data source variable), and that a made-up name is caught (the check
# itself works). Metrics exported but not on the dashboard are listed, not
# failed. Skips (77) without python3 or curl.
set -euo pipefail
src=${CASK_SRC:-$(cd "$(dirname "$0")/.." && pwd)}
bin=${CASK_BIN:-$PWD}
dash=$src/dist/grafana-cask.json
for c in python3 curl; do
	command -v "$c" >/dev/null 2>&1 || {
		echo "SKIP: no $c"
		exit 77
	}
done
for b in cask-master cask-volume cask-s3; do
	[ -x "$bin/$b" ] || {
		echo "FAIL: $bin/$b is not built (set CASK_BIN to the build folder)"
		exit 1
	}
done
[ -f "$dash" ] || {
	echo "FAIL: $dash is missing"
	exit 1
}

tmp=$(mktemp -d "${TMPDIR:-/tmp}/check-dashboard.XXXXXX")
pids=()
# shellcheck disable=SC2317 # run by the trap
cleanup() {
	for p in "${pids[@]}"; do
		kill "$p" 2>/dev/null || true
	done
	for p in "${pids[@]}"; do
		wait "$p" 2>/dev/null || true
	done
	rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

logs() {
	for f in "$tmp"/*.log; do
		echo "--- $f"
		tail -20 "$f"
	done
}

# A port the kernel says is free now.
free_port() {
	python3 -c '
import socket
s = socket.socket()
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])'
}

# up PID PORT: 0 once the daemon answers HTTP on PORT, 1 if it exits
# first (another process took the port meanwhile) or takes over 10 s.
up() {
	local code
	for _ in $(seq 100); do
		code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 1 "http://127.0.0.1:$2/_/health" 2>/dev/null) || true
		[ "$code" != 000 ] && return 0
		kill -0 "$1" 2>/dev/null || return 1
		sleep 0.1
	done
	return 1
}

# start NAME COMMAND...: runs the command with @PORT@ replaced by a free
# port, retrying with another port when it cannot listen; sets $port.
start() {
	local name=$1 pid
	shift
	for _ in 1 2 3 4 5; do
		port=$(free_port)
		"${@//@PORT@/$port}" 2>"$tmp/$name.log" &
		pid=$!
		pids+=("$pid")
		up "$pid" "$port" && return 0
		kill "$pid" 2>/dev/null || true
		wait "$pid" 2>/dev/null || true
	done
	echo "FAIL: $name did not come up in 5 tries"
	logs
	exit 1
}

start volume "$bin/cask-volume" -port @PORT@ -dir "$tmp/v" -merge-interval 0
vport=$port
start master "$bin/cask-master" -port @PORT@ -db "$tmp/m" -id 1 -peers "1=http://127.0.0.1:@PORT@" \
	-volumes "127.0.0.1:$vport" -replicas 1
mport=$port

# The master answers 503 until it leads; a PUT is the proof it does.
m=http://127.0.0.1:$mport
code=000
for _ in $(seq 100); do
	code=$(curl -sS -o /dev/null -w '%{http_code}' --max-time 2 -X PUT --data-binary dashboard "$m/check-dashboard" 2>/dev/null) || true
	[ "$code" = 201 ] && break
	sleep 0.1
done
if [ "$code" != 201 ]; then
	echo "FAIL: no 201 from a PUT to the master on $mport within 10 s (last: $code)"
	logs
	exit 1
fi
got=$(curl -sS -L --max-time 5 "$m/check-dashboard")
[ "$got" = dashboard ] || {
	echo "FAIL: GET through the master returned '$got'"
	logs
	exit 1
}
curl -sS -o /dev/null --max-time 5 -X DELETE "$m/check-dashboard"

# The S3 gateway in front of that master: a bucket, an object written, read
# and deleted, the bucket deleted, all signed; and one unsigned request,
# which it refuses.
s3_secret=check-dashboard-secret-$$
printf '# ACCESS_KEY SECRET_KEY\ncheck-dashboard %s\n' "$s3_secret" >"$tmp/s3.credentials"
start s3 "$bin/cask-s3" -port @PORT@ -masters "$m" -credentials "$tmp/s3.credentials"
s3=http://127.0.0.1:$port
sig=(--aws-sigv4 aws:amz:us-east-1:s3 --user "check-dashboard:$s3_secret"
	-H 'x-amz-content-sha256: UNSIGNED-PAYLOAD')
s3_call() { # WANT CURL_ARGS...: the gateway's answer must be WANT
	local want=$1 code
	shift
	code=$(curl -sS -o "$tmp/s3.answer" -w '%{http_code}' --max-time 5 "$@" 2>&1) || true
	[ "$code" = "$want" ] && return 0
	echo "FAIL: cask-s3: curl $* answered $code, want $want:"
	cat "$tmp/s3.answer" 2>/dev/null
	echo
	logs
	exit 1
}
s3_call 200 "${sig[@]}" -X PUT "$s3/check-dashboard"
s3_call 200 "${sig[@]}" -X PUT --data-binary dashboard "$s3/check-dashboard/k"
s3_call 200 "${sig[@]}" "$s3/check-dashboard/k"
[ "$(cat "$tmp/s3.answer")" = dashboard ] || {
	echo "FAIL: GET through cask-s3 returned '$(cat "$tmp/s3.answer")'"
	logs
	exit 1
}
s3_call 204 "${sig[@]}" -X DELETE "$s3/check-dashboard/k"
s3_call 204 "${sig[@]}" -X DELETE "$s3/check-dashboard"
s3_call 403 "$s3/check-dashboard"

curl -sS --max-time 5 -o "$tmp/master.prom" "$m/_/metrics"
curl -sS --max-time 5 -o "$tmp/volume.prom" "http://127.0.0.1:$vport/_/metrics"
curl -sS --max-time 5 -o "$tmp/s3.prom" "$s3/_/metrics"

check() { # DASHBOARD_JSON: exit 0 when every name it references is scraped
	python3 - "$1" "$tmp/master.prom" "$tmp/volume.prom" "$tmp/s3.prom" <<'EOF'
import json
import re
import sys

dash_path, *scrapes = sys.argv[1:]
with open(dash_path) as f:
    dash = json.load(f)

problems = []
if not isinstance(dash.get("panels"), list) or not dash["panels"]:
    problems.append("no panels")
ids = []
for p in dash.get("panels", []):
    ids.append(p.get("id"))
    for t in p.get("targets", []):
        if not t.get("expr"):
            problems.append(f"panel {p.get('title')!r}: a target without expr")
        if t.get("datasource", {}).get("uid") != "${datasource}":
            problems.append(f"panel {p.get('title')!r}: a target not on ${{datasource}}")
dups = {i for i in ids if ids.count(i) > 1}
if dups:
    problems.append(f"duplicate panel ids {sorted(dups)}")
if "datasource" not in [v.get("name") for v in dash.get("templating", {}).get("list", [])]:
    problems.append("no datasource variable")

# Every string in the dashboard: expressions, variable queries, legends.
def strings(x):
    if isinstance(x, str):
        yield x
    elif isinstance(x, dict):
        for v in x.values():
            yield from strings(v)
    elif isinstance(x, list):
        for v in x:
            yield from strings(v)

referenced = set()
for s in strings(dash):
    referenced.update(re.findall(r"\bcask_[a-z0-9_]+", s))

samples = set()
histograms = set()
for path in scrapes:
    with open(path) as f:
        for line in f:
            m = re.match(r"# TYPE (\S+) (histogram|summary)", line)
            if m:
                histograms.add(m.group(1))
            if line.startswith("#") or not line.strip():
                continue
            samples.add(re.match(r"[a-zA-Z_:][a-zA-Z0-9_:]*", line).group(0))

# A histogram is there by its samples: name_bucket, name_sum, name_count.
def base(name):
    for suffix in ("_bucket", "_sum", "_count"):
        if name.endswith(suffix) and name[: -len(suffix)] in histograms:
            return name[: -len(suffix)]
    return name

exported = {base(n) for n in samples}
missing = sorted(n for n in referenced if n not in samples and n not in exported)
for n in missing:
    problems.append(f"{n}: on the dashboard, in no scraped /_/metrics")

unused = sorted(exported - {base(n) for n in referenced})
if unused:
    print("exported, not on the dashboard: " + " ".join(unused))
for p in problems:
    print("FAIL: " + p)
if problems:
    sys.exit(1)
print(f"{len(referenced)} metric names on the dashboard, all exported")
EOF
}

fails=0
check "$dash" || fails=1

# A made-up name must be caught.
python3 - "$dash" "$tmp/bad.json" <<'EOF'
import json, sys
d = json.load(open(sys.argv[1]))
t = next(p for p in d["panels"] if p.get("targets"))["targets"][0]
t["expr"] = "rate(cask_master_no_such_metric_total[5m])"
json.dump(d, open(sys.argv[2], "w"))
EOF
if out=$(check "$tmp/bad.json"); then
	echo "FAIL: a dashboard naming cask_master_no_such_metric_total passed: the check is blind"
	fails=1
elif ! grep -q 'cask_master_no_such_metric_total' <<<"$out"; then
	echo "FAIL: the check failed a made-up name without naming it:"
	printf '%s\n' "$out"
	fails=1
fi
exit "$fails"
