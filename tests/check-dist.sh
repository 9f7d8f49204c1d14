#!/usr/bin/env bash
# Checks the systemd units in dist/ before an operator installs them:
#  - `systemd-analyze verify` is clean on each: no output at all, since
#    verify exits 0 on an unknown key or a bad value and only prints it.
#    Verify requires the ExecStart binary to exist, and the units name
#    /usr/bin (where the Debian package puts it), so it runs on copies that
#    point at the built binaries. Documentation= man pages are looked up in
#    docs/ when they are there, skipped otherwise;
#  - each carries the hardening and the stop behaviour issue 21 asks for,
#    and `systemd-analyze security --offline` rates its exposure 2.0 or
#    lower (a broken key would raise it); the daemons that keep data have
#    a StateDirectory, and cask-s3, which keeps none, loads its S3
#    credentials as it loads the secret;
#  - every flag the units and dist/cask.env.example pass is one the
#    daemon's -help lists, and every variable a unit uses is set in the
#    example, so a renamed flag or variable is caught here, not at start;
#  - a unit with a typo fails this check (the check itself works).
# Skips (77) only without systemd-analyze (Debian package systemd).
set -euo pipefail
set -f # no globbing: unit lines are split at spaces on purpose
src=${CASK_SRC:-$(cd "$(dirname "$0")/.." && pwd)}
bin=${CASK_BIN:-$PWD}
if ! command -v systemd-analyze >/dev/null 2>&1; then
	echo "SKIP: no systemd-analyze (apt-get install systemd)"
	exit 77
fi
for b in cask-master cask-volume cask-s3; do
	[ -x "$bin/$b" ] || {
		echo "FAIL: $bin/$b is not built (set CASK_BIN to the build folder)"
		exit 1
	}
done
tmp=$(mktemp -d "${TMPDIR:-/tmp}/check-dist.XXXXXX")
trap 'rm -rf "$tmp"' EXIT INT TERM
fails=0
fail() {
	echo "FAIL: $*"
	fails=$((fails + 1))
}

units=(cask-master.service cask-volume.service cask-volume@.service
	cask-s3.service)
env_example=$src/dist/cask.env.example
[ -f "$env_example" ] || fail "$env_example is missing"

# Man pages for Documentation=, from docs/ if the tree has them.
man_opt=(--man=no)
pages=(cask-master.8 cask-volume.8 cask-s3.8)
have=0
for p in "${pages[@]}"; do
	[ -f "$src/docs/$p" ] && have=$((have + 1))
done
if [ "$have" -eq ${#pages[@]} ]; then
	mkdir -p "$tmp/man/man8"
	for p in "${pages[@]}"; do
		cp "$src/docs/$p" "$tmp/man/man8/"
	done
	man_opt=(--man=yes)
	export MANPATH=$tmp/man
else
	echo "note: one of docs/${pages[*]} is absent, Documentation= not checked"
fi

# verify_clean FILE: verify prints nothing and exits 0.
verify_clean() {
	local out
	if ! out=$(cd "$tmp" && systemd-analyze verify "${man_opt[@]}" "$1" 2>&1) || [ -n "$out" ]; then
		printf '%s\n' "$out" | sed 's/^/    /'
		return 1
	fi
}

for u in "${units[@]}"; do
	f=$src/dist/$u
	if [ ! -f "$f" ]; then
		fail "$f is missing"
		continue
	fi
	sed "s|/usr/bin/cask-|$bin/cask-|g" "$f" >"$tmp/$u"
	verify_clean "$tmp/$u" || fail "systemd-analyze verify $u is not clean (above)"

	for want in 'User=cask' 'NoNewPrivileges=yes' 'ProtectSystem=strict' \
		'PrivateTmp=yes' 'ProtectHome=yes' \
		'RestrictAddressFamilies=AF_INET AF_INET6 AF_UNIX' \
		'LimitNOFILE=65536' 'Restart=on-failure' 'KillSignal=SIGTERM' \
		'LoadCredential=secret:/etc/cask/secret'; do
		grep -qxF "$want" "$f" || fail "$u: no line '$want'"
	done
	case $u in
	cask-s3.service)
		# Stateless: no data to keep, and its S3 credentials come in
		# as a credential, like the secret.
		grep -q '^StateDirectory=' "$f" && fail "$u: a StateDirectory for a gateway that keeps no data"
		grep -qxF 'LoadCredential=s3.credentials:/etc/cask/s3.credentials' "$f" ||
			fail "$u: no line 'LoadCredential=s3.credentials:/etc/cask/s3.credentials'"
		# shellcheck disable=SC2016 # the unit's text, unexpanded
		grep -qF -- '-credentials ${CREDENTIALS_DIRECTORY}/s3.credentials' "$f" ||
			fail "$u: ExecStart= does not pass -credentials \${CREDENTIALS_DIRECTORY}/s3.credentials"
		;;
	*)
		grep -qx 'StateDirectory=cask/.*' "$f" || fail "$u: no StateDirectory=cask/..."
		;;
	esac
	grep -qx 'EnvironmentFile=/etc/cask/.*\.env' "$f" || fail "$u: no EnvironmentFile=/etc/cask/....env"
	# Masters hand leadership over (2 s) and both finish requests in
	# flight (30 s) on SIGTERM: systemd must wait longer than that.
	stop=$(sed -n 's/^TimeoutStopSec=\([0-9]*\)$/\1/p' "$f")
	if [ -z "$stop" ] || [ "$stop" -lt 35 ]; then
		fail "$u: TimeoutStopSec must be 35 s or more (got '${stop:-none}')"
	fi

	exposure=$(cd "$tmp" && systemd-analyze security --offline=yes --no-pager "$tmp/$u" 2>&1 | sed -n 's/.*Overall exposure level for [^:]*: \([0-9.]*\).*/\1/p')
	if ! (cd "$tmp" && systemd-analyze security --offline=yes --threshold=20 --no-pager "$tmp/$u" >/dev/null 2>&1); then
		fail "$u: systemd-analyze security rates its exposure ${exposure:-?}, above 2.0"
	fi

	# The flags ExecStart passes, and the variables it expands.
	exec_line=$(sed -n 's/^ExecStart=//p' "$f")
	prog=$(basename "${exec_line%% *}")
	help=$("$bin/$prog" -help 2>&1 || true)
	# shellcheck disable=SC2086 # split at spaces as systemd does
	for flag in $(printf '%s\n' $exec_line | grep -E '^-[a-z]' || true); do
		grep -qE "^  $flag( |\$)" <<<"$help" || fail "$u: $prog has no flag $flag"
	done
	# shellcheck disable=SC2016 # the characters $, { and }
	for var in $(grep -oE '\$\{?[A-Z0-9_]+\}?' <<<"$exec_line" | tr -d '${}' | sort -u); do
		[ "$var" = CREDENTIALS_DIRECTORY ] && continue
		grep -qE "^$var=" "$env_example" || fail "$u uses \$$var, which $env_example does not set"
	done
done

# Flags in the example environment, also those in its comments.
while IFS= read -r line; do
	var=${line%%=*}
	case $var in
	CASK_MASTER_OPTS) prog=cask-master ;;
	CASK_VOLUME_OPTS) prog=cask-volume ;;
	CASK_S3_OPTS) prog=cask-s3 ;;
	*)
		fail "$env_example sets $var, which no unit uses"
		continue
		;;
	esac
	help=$("$bin/$prog" -help 2>&1 || true)
	val=${line#*=}
	val=${val//\"/}
	# shellcheck disable=SC2086 # split at spaces as systemd does
	for flag in $(printf '%s\n' $val | grep -E '^-[a-z]' || true); do
		grep -qE "^  $flag( |\$)" <<<"$help" || fail "$env_example: $prog has no flag $flag ($line)"
	done
done < <(sed -n 's/^[# ]*\(CASK_[A-Z0-9_]*=".*"\)$/\1/p' "$env_example")

# The check catches a typo.
sed 's/^ProtectSystem=strict$/ProtectSystem=stirct/; s/^NoNewPrivileges=yes$/NoNewPrivilege=yes/' \
	"$tmp/cask-master.service" >"$tmp/cask-typo.service"
if verify_clean "$tmp/cask-typo.service" >/dev/null; then
	fail "systemd-analyze verify found nothing wrong in a unit with typos: the check is blind"
fi

if [ "$fails" -ne 0 ]; then
	echo "$fails failure(s)"
	exit 1
fi
echo "PASS: ${units[*]} verify clean, hardened, flags and variables known"
