#!/usr/bin/env bash
# fuzz-long.sh [RUNS] [TARGET...] — the long fuzzing run of docs/fuzzing.md:
# every libFuzzer target (or only the TARGETs named, e.g. `json jws`) for
# RUNS executions each (default 10,000,000), one after another, under
# ASan + UBSan + LSan (the clang-14 "fuzz" preset), starting from the seed
# corpus fuzz/corpus/<name>/ plus any corpus grown by an earlier long run
# in $ASTIS_FUZZ_CORPUS_DIR (default build/fuzz-long-corpus; kept, never
# written into the repository). Saved reproducers in fuzz/regressions/ are
# replayed first. Prints, per target, executions, wall time, exec/s and
# peak RSS, and a summary table at the end. Any crash, leak, sanitizer
# report or invariant trap fails the script (the crash input is kept in
# <build>/fuzz-artifacts/). ASTIS_FUZZ_BUILD_DIR=<dir> uses a tree already
# built with -DASTIS_BUILD_FUZZ=ON instead of building the preset;
# ASTIS_FUZZ_JOBS=N runs N libFuzzer workers per target (default 1) that
# share the corpus and split RUNS between them (RUNS/N each, rounded up), so
# one target's run uses N cores and still totals RUNS executions.
# ASTIS_FUZZ_MAX_LEN=BYTES caps libFuzzer's input size (default 65536, as
# scripts/fuzz.sh); docs/fuzzing.md says which runs used a smaller cap and why.
# On a 2-core machine the full run takes many hours: see docs/fuzzing.md.
set -euo pipefail
shopt -s nullglob
cd "$(dirname "$0")/.."
runs=${1:-10000000}
shift || true
if [[ -n ${ASTIS_FUZZ_BUILD_DIR:-} ]]; then
  build=$ASTIS_FUZZ_BUILD_DIR
else
  scripts/build.sh fuzz
  build=build/fuzz
fi
corpus_root=${ASTIS_FUZZ_CORPUS_DIR:-build/fuzz-long-corpus}
jobs=${ASTIS_FUZZ_JOBS:-1}
max_len=${ASTIS_FUZZ_MAX_LEN:-65536}
if ! [[ $runs =~ ^[1-9][0-9]*$ && $jobs =~ ^[1-9][0-9]*$ && $max_len =~ ^[1-9][0-9]*$ ]]; then
  echo "fuzz-long: RUNS, ASTIS_FUZZ_JOBS and ASTIS_FUZZ_MAX_LEN must be positive integers" >&2
  exit 2
fi
runs_per_worker=$(( (runs + jobs - 1) / jobs ))
artifacts=$build/fuzz-artifacts
mkdir -p "$artifacts" "$corpus_root"
logs=$(mktemp -d)
trap 'rm -rf "$logs"' EXIT
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}

targets=("$@")
if (( ${#targets[@]} == 0 )); then
  for bin in "$build"/fuzz/*_fuzz; do [[ -x $bin ]] && targets+=("$(basename "$bin" _fuzz)"); done
fi
if (( ${#targets[@]} == 0 )); then
  echo "fuzz-long: no *_fuzz binaries under $build/fuzz" >&2
  exit 1
fi

status=0
summary=()
for name in "${targets[@]}"; do
  bin=$build/fuzz/${name}_fuzz
  if [[ ! -x $bin ]]; then
    echo "fuzz-long: $name: no binary $bin" >&2
    status=1
    continue
  fi
  if [[ -d fuzz/regressions/$name ]]; then
    mapfile -t repros < <(find "fuzz/regressions/$name" -type f ! -name '*.md' | sort)
    if (( ${#repros[@]} )) && ! "$bin" -runs=1 "${repros[@]}" > "$logs/$name.replay.log" 2>&1; then
      echo "fuzz-long: $name FAILED on a saved reproducer" >&2
      tail -40 "$logs/$name.replay.log" >&2
      status=1
      continue
    fi
  fi
  grown=$corpus_root/$name
  mkdir -p "$grown"
  seeds=()
  [[ -d fuzz/corpus/$name ]] && seeds=("fuzz/corpus/$name")
  echo "fuzz-long: $name for $runs executions (jobs $jobs, max_len $max_len)"
  start=$(date +%s)
  extra=()
  (( jobs > 1 )) && extra=(-jobs="$jobs" -workers="$jobs")
  if "$bin" -runs="$runs_per_worker" -max_len="$max_len" -timeout=30 -rss_limit_mb=2048 -print_final_stats=1 \
      -artifact_prefix="$artifacts/$name-" "${extra[@]}" "$grown" "${seeds[@]}" > "$logs/$name.log" 2>&1; then
    result=ok
  else
    result=FAILED
    status=1
    echo "fuzz-long: $name FAILED; last lines:" >&2
    tail -40 "$logs/$name.log" >&2
  fi
  secs=$(( $(date +%s) - start ))
  # With ASTIS_FUZZ_JOBS each worker's stats land in fuzz-<n>.log (cwd), and
  # the parent's log repeats them: count the workers' files only.
  stats=("$logs/$name.log")
  (( jobs > 1 )) && stats=(fuzz-*.log)
  execs=$(cat "${stats[@]}" 2>/dev/null | awk '/stat::number_of_executed_units:/ {s += $2} END {print s + 0}')
  rss=$(cat "${stats[@]}" 2>/dev/null | awk '/stat::peak_rss_mb:/ {if ($2 > m) m = $2} END {print m + 0}')
  rm -f fuzz-*.log
  rate=$(( secs > 0 ? execs / secs : execs ))
  line=$(printf "%-20s %-6s %12s execs %8ss %9s exec/s %6s MB" "$name" "$result" "$execs" "$secs" "$rate" "$rss")
  echo "fuzz-long: $line"
  summary+=("$line")
done
echo "fuzz-long: summary ($runs runs per target)"
printf '  %s\n' "${summary[@]}"
exit $status
