#!/usr/bin/env bash
# Builds cask out of tree: scripts/build.sh [BUILD_DIR [configure flags...]]
set -euo pipefail
src=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-$src/build}
shift || true
cd "$src"
[ -x configure ] && [ configure -nt configure.ac ] || autoreconf -fi >/dev/null
mkdir -p "$build"
cd "$build"
if [ ! -f Makefile ] || [ "$src/configure" -nt Makefile ]; then
	"$src/configure" -q "$@"
fi
make -j"$(nproc)" >/dev/null
echo "built in $build"
