#!/usr/bin/env bash
# demo.sh — the main job: install what is missing, build, and run the local
# end-to-end demo. Everything happens in a temporary directory that is
# removed at the end; no process is left behind.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)

scripts/install-deps.sh
echo "== build (release)"
cmake --preset release >/dev/null
cmake --build --preset release -j "$(nproc)" --target astis astis_run astis-kube-standin

exec "$root/scripts/demo-run.sh" "$root/build/release"
