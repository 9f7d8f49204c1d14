#!/bin/sh
# Benchmarks cask-s3 and prints markdown table rows: PUT and GET of 4 KiB
# and 64 MiB objects through the gateway (boto3) beside the same requests
# to the master's own API, in one run (scripts/bench_s3.py), against one
# master and three volumes with three replicas, on 127.0.0.1 in a temp
# folder removed at exit.
#   CASK_BIN           folder with the binaries (default: .)
#   BENCH_S3_SMALL     4 KiB requests per round (default 400)
#   BENCH_S3_LARGE     64 MiB requests per round (default 3)
set -eu
BIN=${CASK_BIN:-.}
. "$(dirname "$0")/benchlib.sh"
bench_init s3
VOLS=""
for i in 1 2 3; do
	p=$(free_port)
	bench_bg "$BIN/cask-volume" $(secret_flags "$BIN/cask-volume") -port "$p" \
		-bind 127.0.0.1 -dir "$TMP/v$i" -log-level warn >"$TMP/v$i.log" 2>&1
	wait_up "$p"
	VOLS="$VOLS${VOLS:+,}127.0.0.1:$p"
done
MP=$(free_port)
bench_bg "$BIN/cask-master" $(secret_flags "$BIN/cask-master") -port "$MP" \
	-bind 127.0.0.1 -db "$TMP/idx" -volumes "$VOLS" -replicas 3 \
	-log-level warn >"$TMP/master.log" 2>&1
wait_up "$MP"
echo "BENCHKEY0001 $(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')" >"$TMP/creds"
SP=$(free_port)
bench_bg "$BIN/cask-s3" $(secret_flags "$BIN/cask-s3") -port "$SP" \
	-bind 127.0.0.1 -masters "http://127.0.0.1:$MP" -credentials "$TMP/creds" \
	-log-level warn >"$TMP/s3.log" 2>&1
wait_up "$SP"
# Debian's python and boto3, as the tests use.
/usr/bin/python3 "$(dirname "$0")/bench_s3.py" "http://127.0.0.1:$SP" \
	"http://127.0.0.1:$MP" $(cat "$TMP/creds")
