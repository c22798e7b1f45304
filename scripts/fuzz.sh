#!/usr/bin/env bash
# fuzz.sh [SECONDS] — build the libFuzzer targets (clang-14, ASan+UBSan, the
# "fuzz" preset), replay every saved crash reproducer in
# fuzz/regressions/<name>/, then run each target for SECONDS (default 20)
# from its seed corpus fuzz/corpus/<name>/ (<name> is the target without
# "_fuzz"). New corpus units go to a scratch directory, not the repository.
# Any crash, leak, sanitizer report or failed reproducer fails the script.
# For the long runs of docs/fuzzing.md pass a larger budget, e.g.
# `scripts/fuzz.sh 3600`. ASTIS_FUZZ_BUILD_DIR=<dir> uses an already built
# tree instead of building the preset.
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-20}
if [[ -n ${ASTIS_FUZZ_BUILD_DIR:-} ]]; then
  build=$ASTIS_FUZZ_BUILD_DIR
else
  scripts/build.sh fuzz
  build=build/fuzz
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
artifacts=$build/fuzz-artifacts  # crash inputs survive the run here
mkdir -p "$artifacts"
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
status=0
found=0
for bin in "$build"/fuzz/*_fuzz; do
  [[ -x $bin ]] || continue
  found=1
  name=$(basename "$bin" _fuzz)
  for regdir in "fuzz/regressions/$name" "fuzz/regressions/${name}_fuzz"; do
    [[ -d $regdir ]] || continue
    mapfile -t repros < <(find "$regdir" -type f ! -name '*.md' | sort)
    (( ${#repros[@]} )) || continue
    echo "fuzz: $name replaying ${#repros[@]} reproducer(s) from $regdir"
    if ! "$bin" -runs=1 "${repros[@]}" > "$work/$name.replay.log" 2>&1; then
      echo "fuzz: $name FAILED on a saved reproducer; last lines:" >&2
      tail -40 "$work/$name.replay.log" >&2
      status=1
    fi
  done
  corpus=fuzz/corpus/$name
  mkdir -p "$work/$name"
  echo "fuzz: $name for ${secs}s"
  if ! "$bin" -max_total_time="$secs" -max_len=65536 -timeout=30 -rss_limit_mb=2048 \
      -artifact_prefix="$artifacts/$name-" -print_final_stats=1 "$work/$name" "$corpus" \
      > "$work/$name.log" 2>&1; then
    echo "fuzz: $name FAILED; last lines:" >&2
    tail -40 "$work/$name.log" >&2
    ls "$artifacts/$name"-* 2>/dev/null | sed "s/^/fuzz: $name artifact: /" >&2 || true
    status=1
  else
    grep -E "stat::(number_of_executed_units|average_exec_per_sec|peak_rss_mb)" "$work/$name.log" |
      sed "s/^/fuzz: $name /"
  fi
done
if (( ! found )); then
  echo "fuzz: no *_fuzz binaries under $build/fuzz" >&2
  exit 1
fi
exit $status
