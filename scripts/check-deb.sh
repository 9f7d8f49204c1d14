#!/usr/bin/env bash
# Builds the Debian package `cask` with `dpkg-buildpackage -us -uc -b` and
# checks it: lintian reports no error (its warnings are printed), the .deb
# holds every program (bin_PROGRAMS), the systemd units, the sysusers file, the
# example environment and the dashboard (and the man pages when docs/ has
# them), its programs run, and its maintainer scripts neither enable nor
# start a unit (they need a secret and flags first) and restart, not stop,
# the running ones on an upgrade. The build runs in a temp copy of the
# files git tracks, as they are in the work tree, so neither the tree nor
# its build folders are touched; make check is left to scripts/test.sh
# (nocheck). Needs debhelper, lintian, dpkg-dev and the
# build dependencies (scripts/deps.sh installs them).
set -euo pipefail
src=$(cd "$(dirname "$0")/.." && pwd)
t0=$SECONDS
for c in dpkg-buildpackage dh lintian git; do
	command -v "$c" >/dev/null 2>&1 || {
		echo "check-deb: $c is missing: run scripts/deps.sh"
		exit 1
	}
done
tmp=$(mktemp -d "${TMPDIR:-/tmp}/check-deb.XXXXXX")
trap 'rm -rf "$tmp"' EXIT INT TERM
fails=0
fail() {
	echo "check-deb: FAIL: $*"
	fails=$((fails + 1))
}

# The tracked files, as they are now (symlinks kept).
mkdir "$tmp/cask"
(cd "$src" && git ls-files -z | tar --null --ignore-failed-read -T - -cf -) | tar -xf - -C "$tmp/cask"

echo "check-deb: dpkg-buildpackage -us -uc -b in $tmp/cask"
if ! (cd "$tmp/cask" && DEB_BUILD_OPTIONS="nocheck parallel=$(nproc)" \
	dpkg-buildpackage -us -uc -b) >"$tmp/build.log" 2>&1; then
	tail -60 "$tmp/build.log"
	echo "check-deb: FAIL: dpkg-buildpackage failed (last lines above)"
	exit 1
fi
changes=$(ls "$tmp"/cask_*.changes)
deb=$(ls "$tmp"/cask_*.deb)
echo "check-deb: built $(basename "$deb") in $((SECONDS - t0)) s"

# lintian: errors fail, warnings and info are shown.
if ! lintian --fail-on error --display-level '>=info' "$changes" >"$tmp/lintian.log" 2>&1; then
	fail "lintian reports errors"
fi
if [ -s "$tmp/lintian.log" ]; then
	sed 's/^/  lintian: /' "$tmp/lintian.log"
fi
echo "check-deb: lintian: $(grep -c '^E:' "$tmp/lintian.log" || true) errors, $(grep -c '^W:' "$tmp/lintian.log" || true) warnings, $(grep -c '^I:' "$tmp/lintian.log" || true) info"

dpkg-deb -c "$deb" | awk '{print $6}' | sed 's|^\./|/|' >"$tmp/files"
# The programs: every bin_PROGRAMS entry of the build.
mapfile -t progs < <(sed -n 's/^bin_PROGRAMS += *//p' "$tmp"/cask/*/Makefile.inc | tr ' ' '\n' | grep . | sort -u)
[ ${#progs[@]} -ge 5 ] || fail "found ${#progs[@]} bin_PROGRAMS in */Makefile.inc, expected at least 5"
want=()
for p in "${progs[@]}"; do
	want+=("/usr/bin/$p")
done
want+=(/lib/systemd/system/cask-master.service
	/lib/systemd/system/cask-s3.service
	/lib/systemd/system/cask-volume.service
	/lib/systemd/system/cask-volume@.service
	/usr/lib/sysusers.d/cask.conf
	/usr/share/doc/cask/examples/cask.env.example
	/usr/share/doc/cask/README.Debian
	/usr/share/cask/grafana-cask.json /etc/cask/)
# Man pages: what docs/ has, `make install` must put in the package.
for page in "$tmp"/cask/docs/*.[18]; do
	[ -e "$page" ] || continue
	base=$(basename "$page")
	want+=("/usr/share/man/man${base##*.}/$base.gz")
done
for f in "${want[@]}"; do
	grep -qxF "$f" "$tmp/files" || fail "$(basename "$deb") has no $f"
done

# The packaged programs run (linked and installed right).
dpkg-deb -x "$deb" "$tmp/root"
for p in "${progs[@]}"; do
	"$tmp/root/usr/bin/$p" -help >/dev/null 2>&1 || fail "/usr/bin/$p -help fails in the package"
done

# Installing enables and starts no unit: postinst may re-enable only a
# unit the admin had enabled (under `debian-installed`) and may
# try-restart, never start; preinst stops nothing (with --no-start,
# debhelper's stop before an upgrade would leave the daemons stopped).
dpkg-deb -e "$deb" "$tmp/control"
python3 - "$tmp/control" <<'EOF' || fail "the maintainer scripts enable, start or stop units (above)"
import os
import re
import sys

bad = 0
for script in ("preinst", "postinst"):
    path = os.path.join(sys.argv[1], script)
    if not os.path.exists(path):
        continue
    guarded = set()
    with open(path) as f:
        for n, line in enumerate(f, 1):
            where = f"{script}:{n}: {line.strip()}"
            m = re.search(r"deb-systemd-helper debian-installed '([^']+)'", line)
            if m:
                guarded.add(m.group(1))
            m = re.search(r"deb-systemd-helper (?:--quiet )?enable '([^']+)'", line)
            if m and m.group(1) not in guarded:
                print(f"enables {m.group(1)} on a first install: {where}")
                bad = 1
            m = re.search(r"deb-systemd-invoke\s+(\S+)", line)
            if m and m.group(1) != "try-restart" and script == "postinst":
                print(f"runs {m.group(1)}, not try-restart: {where}")
                bad = 1
            if m and script == "preinst":
                print(f"stops a unit before an upgrade: {where}")
                bad = 1
sys.exit(bad)
EOF

if [ "$fails" -ne 0 ]; then
	echo "check-deb: $fails failure(s)"
	exit 1
fi
echo "check-deb: PASS in $((SECONDS - t0)) s"
