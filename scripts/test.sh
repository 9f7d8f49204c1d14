#!/usr/bin/env bash
# Installs what is missing, builds, and runs every test: unit, cluster and
# fault tests built with gcc, then the same built with clang under
# ASan+UBSan (so both compilers' -Werror hold, and clang's UBSan catches
# more), then lint and distcheck.
set -euo pipefail
src=$(cd "$(dirname "$0")/.." && pwd)
"$src/scripts/deps.sh"
cd "$src"

summary=()
run() { # name, command...
	local name=$1
	shift
	echo "=== $name"
	local t0=$SECONDS
	if "$@"; then
		summary+=("PASS $name ($((SECONDS - t0))s)")
	else
		summary+=("FAIL $name ($((SECONDS - t0))s)")
		# Each failed test's own log, then the summary: what a CI
		# report keeps is the end of the output.
		find "$build" -name '*.trs' -print | sort | while read -r t; do
			if grep -q -E '^:test-result: (FAIL|ERROR)' "$t"; then
				echo "--- ${t%.trs}.log"
				grep -v '^$' "${t%.trs}.log" | tail -40
			fi
		done
		printf '%s\n' "${summary[@]}"
		exit 1
	fi
}

build=$src/build
run "build" "$src/scripts/build.sh" "$build"
run "make check" make -C "$build" check
build=$src/build-sanitizers
run "build (clang, sanitizers)" env CC=clang "$src/scripts/build.sh" "$build" --enable-sanitizers
run "make check (clang, sanitizers)" make -C "$build" check
build=$src/build
run "make lint" make -C "$build" lint
run "make distcheck" make -C "$build" distcheck >/dev/null
run "debian package" "$src/scripts/check-deb.sh"
printf '%s\n' "${summary[@]}"
