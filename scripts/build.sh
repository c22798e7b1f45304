#!/usr/bin/env bash
# build.sh PRESET — configure and build one CMake preset (release, debug, asan,
# tsan, fuzz). Builds with -Werror; uses every core.
set -euo pipefail
cd "$(dirname "$0")/.."
preset=${1:-release}
cmake --preset "$preset" >/dev/null
cmake --build --preset "$preset" -j "$(nproc)"
