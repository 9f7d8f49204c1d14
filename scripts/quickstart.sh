#!/usr/bin/env bash
# Installs what is missing, builds, and starts a local cask under one data
# folder (default ./cask-data, or $CASK_DATA). `quickstart.sh stop` stops it.
set -euo pipefail
src=$(cd "$(dirname "$0")/.." && pwd)
data=${CASK_DATA:-$src/cask-data}
build=$src/build

# SIGTERM to every daemon, then waits (up to 30 s) until they have exited:
# a leader first hands over, and a master syncs its index before it goes,
# so "stopped" means stopped, and a restart finds the ports free.
stop() {
	[ -d "$data" ] || return 0
	local pids="" pid
	for pidfile in "$data"/*.pid; do
		[ -e "$pidfile" ] || continue
		pid=$(cat "$pidfile")
		kill "$pid" 2>/dev/null && pids="$pids $pid"
		rm -f "$pidfile"
	done
	for pid in $pids; do
		for _ in $(seq 1 300); do
			kill -0 "$pid" 2>/dev/null || break
			sleep 0.1
		done
		if kill -0 "$pid" 2>/dev/null; then
			echo "process $pid did not stop; see $data/*.log" >&2
			return 1
		fi
	done
}

wait_health() { # port
	for _ in $(seq 1 200); do
		curl -fs "http://127.0.0.1:$1/_/health" >/dev/null && return 0
		sleep 0.05
	done
	echo "daemon on port $1 did not come up; see $data/*.log" >&2
	exit 1
}

start() { # name, port, binary, args...
	local name=$1 port=$2 bin=$3
	shift 3
	nohup "$build/$bin" -port "$port" "$@" >>"$data/$name.log" 2>&1 &
	echo $! >"$data/$name.pid"
	wait_health "$port"
}

if [ "${1:-}" = stop ]; then
	stop
	echo "stopped the daemons under $data"
	exit 0
fi

"$src/scripts/deps.sh"
"$src/scripts/build.sh" "$build"
mkdir -p "$data"
stop
# The cluster secret signs every request between daemons and tools; made
# once, readable by this user only.
secret=$data/secret
if [ ! -s "$secret" ]; then
	(umask 077 && od -An -N32 -tx1 /dev/urandom | tr -d ' \n' >"$secret")
fi
for i in 1 2 3; do
	start "volume$i" "300$i" cask-volume -dir "$data/volume$i" \
		-bind 127.0.0.1 -secret-file "$secret"
done
peers=1=http://127.0.0.1:3000,2=http://127.0.0.1:3010,3=http://127.0.0.1:3020
volumes=127.0.0.1:3001,127.0.0.1:3002,127.0.0.1:3003
# Masters come up together: each waits for the others to elect a leader.
for i in 1 2 3; do
	port=$((3000 + (i - 1) * 10))
	nohup "$build/cask-master" -id "$i" -port "$port" -peers "$peers" \
		-db "$data/master$i" -volumes "$volumes" \
		-bind 127.0.0.1 -secret-file "$secret" \
		>>"$data/master$i.log" 2>&1 &
	echo $! >"$data/master$i.pid"
done
for port in 3000 3010 3020; do wait_health "$port"; done
# Writes need a leader that has applied the volume set, which the new
# leader proposes after its election: wait for both on every master, so
# the first curl works (a PUT before it is answered 503).
ready() { # port -> active volumes it knows, 0 while it knows no leader
	curl -fs "http://127.0.0.1:$1/_/status" | grep '"leader":[1-9]' |
		grep -o '"active":true' | wc -l
}
for port in 3000 3010 3020; do
	for _ in $(seq 1 200); do
		[ "$(ready "$port")" -ge 3 ] && break
		sleep 0.05
	done
done

cat <<TRY

cask is running; data, logs and the cluster secret are in $data
  masters: http://127.0.0.1:3000 http://127.0.0.1:3010 http://127.0.0.1:3020 (any takes any request)
  volumes: http://127.0.0.1:3001 http://127.0.0.1:3002 http://127.0.0.1:3003
  status page: http://127.0.0.1:3000/_/ui (each master and volume has one)

Try:
  curl -L -X PUT -d bigswag http://127.0.0.1:3000/wehave
  curl -L http://127.0.0.1:3000/wehave
  curl -I http://127.0.0.1:3000/wehave
  curl -L http://127.0.0.1:3010/wehave            # the same value through another master
  curl -L 'http://127.0.0.1:3020/we?list'
  curl -L -X UNLINK http://127.0.0.1:3000/wehave
  curl -L 'http://127.0.0.1:3000/?unlinked'
  curl -L -X DELETE http://127.0.0.1:3000/wehave
  curl http://127.0.0.1:3000/_/status               # role, term, leader, volumes
  $build/cask-rebuild -master 127.0.0.1:3000 -dry-run -secret-file $secret

Stop it with: $0 stop
TRY
