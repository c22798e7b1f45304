#!/usr/bin/env bash
# fuzz.sh [SECONDS] — build the libFuzzer targets (clang-14, ASan+UBSan) and
# run each for SECONDS (default 20) from its seed corpus. A crash fails the
# script. For the long runs of docs/fuzzing.md pass a larger budget, e.g.
# `scripts/fuzz.sh 3600`.
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-20}
scripts/build.sh fuzz
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
status=0
for bin in build/fuzz/fuzz/*_fuzz; do
  [[ -x $bin ]] || continue
  name=$(basename "$bin" _fuzz)
  corpus=fuzz/corpus/$name
  mkdir -p "$work/$name"
  echo "fuzz: $name for ${secs}s"
  if ! ASAN_OPTIONS=detect_leaks=1 "$bin" -max_total_time="$secs" -max_len=65536 -rss_limit_mb=2048 \
      -artifact_prefix="$work/$name-" -print_final_stats=1 "$work/$name" "$corpus" \
      > "$work/$name.log" 2>&1; then
    echo "fuzz: $name FAILED; last lines:" >&2
    tail -40 "$work/$name.log" >&2
    status=1
  else
    grep -E "stat::number_of_executed_units" "$work/$name.log" | sed "s/^/fuzz: $name /"
  fi
done
exit $status
