#!/usr/bin/env bash
# Builds the libFuzzer targets (tests/fuzz) with clang and runs each one
# for FUZZ_SECONDS (default 20) on a scratch copy of its checked-in seeds,
# tests/fuzz/corpus/NAME, which stay as they are. Fails on the first
# crash, leak, timeout or broken invariant, leaving the input that did it
# in BUILD_DIR/tests/fuzz/artifacts/ for `fuzz_NAME FILE` to replay.
#
#   scripts/fuzz.sh [BUILD_DIR]       (default: build-fuzz in the source)
#   FUZZ_SECONDS=300 FUZZ_TARGETS="cmd key" scripts/fuzz.sh
set -euo pipefail
src=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-$src/build-fuzz}
seconds=${FUZZ_SECONDS:-20}
corpus=$src/tests/fuzz/corpus
if [ -n "${FUZZ_TARGETS:-}" ]; then
	read -r -a targets <<<"$FUZZ_TARGETS"
else
	targets=()
	for d in "$corpus"/*/; do
		targets+=("$(basename "$d")")
	done
fi

# Longest input per target: room for the largest valid encoding plus
# some, since longer inputs only slow the search down.
max_len() {
	case $1 in
	cmd) echo 9000 ;;	# CMD_MAX_LEN, with CMD_MAX_ADDRS of addresses
	raft_codec) echo 4096 ;; # a few entries, or a 16-node conf
	jsonl) echo 4096 ;;	# one record or /_/keys line
	key) echo 2048 ;;	# past KEY_PCT_MAX (3 * 511 + 1)
	*) echo 128 ;;		# range, content_length: one header value
	esac
}

cd "$src"
[ -x configure ] && [ configure -nt configure.ac ] || autoreconf -fi >/dev/null
mkdir -p "$build"
if [ ! -f "$build/Makefile" ]; then
	(cd "$build" && CC=clang "$src/configure" -q --enable-fuzzers)
elif ! grep -q '^FUZZ_LDFLAGS = -fsanitize=fuzzer' "$build/Makefile"; then
	echo "fuzz.sh: $build is not configured with --enable-fuzzers" >&2
	exit 1
fi
bins=()
for t in "${targets[@]}"; do
	bins+=("tests/fuzz/fuzz_$t")
done
make -C "$build" -j"$(nproc)" "${bins[@]}" >/dev/null

artifacts=$build/tests/fuzz/artifacts
mkdir -p "$artifacts"
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
for t in "${targets[@]}"; do
	mkdir -p "$scratch/$t"
	cp "$corpus/$t"/* "$scratch/$t"/
	echo "=== fuzz_$t: ${seconds}s"
	# -timeout: a parser that takes a second on one input is a bug.
	if ! "$build/tests/fuzz/fuzz_$t" -max_total_time="$seconds" \
		-max_len="$(max_len "$t")" -timeout=5 -rss_limit_mb=2048 \
		-print_final_stats=1 -artifact_prefix="$artifacts/$t-" \
		"$scratch/$t" >"$scratch/$t.log" 2>&1; then
		tail -60 "$scratch/$t.log"
		echo "FAIL fuzz_$t: input saved in $artifacts/" >&2
		exit 1
	fi
	grep -E '^#[0-9]+[[:space:]]+DONE' "$scratch/$t.log" || true
done
echo "fuzz: ${#targets[@]} targets, ${seconds}s each, no failure"
