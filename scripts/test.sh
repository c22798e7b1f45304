#!/usr/bin/env bash
# test.sh — the one command that installs what is missing, builds and runs
# every test: the unit and integration suites in the release build and again
# under ASan+UBSan, then each libFuzzer target briefly.
#
#   ASTIS_FUZZ_SECONDS  seconds per fuzz target (default 15; 0 skips fuzzing)
#   ASTIS_SKIP_ASAN=1   skip the ASan pass (local iteration only; CI never sets it)
#   ASTIS_SKIP_TSAN=1   skip the TSan pass (local iteration only; CI never sets it)
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)

scripts/install-deps.sh
scripts/npm-deps.sh
scripts/check-test-citations.sh  # no build needed: fail fast on a comment naming a missing test

# The whole run needs a few GiB of disk (four build trees, ccache, throwaway
# PostgreSQL clusters); say so up front rather than fail half-way with ENOSPC.
disk_report() {
  local avail
  avail=$(df -Pk . | awk 'NR==2 {print int($4 / 1024)}')
  echo "== disk: ${avail} MiB free; build trees: $(du -sh build 2>/dev/null | cut -f1)"
  if [[ $avail -lt 3072 ]]; then
    echo "test: warning: less than 3 GiB free on $(df -P . | awk 'NR==2 {print $6}')" >&2
  fi
}
disk_report

passed=0
failed=0
run_ctest() {  # run_ctest PRESET
  local preset=$1 log
  log=$(mktemp)
  echo "== ctest ($preset)"
  set +e
  ctest --preset "$preset" --timeout 600 2>&1 | tee "$log"
  local rc=${PIPESTATUS[0]}
  set -e
  local total fails
  total=$(sed -nE 's/.*tests passed, ([0-9]+) tests failed out of ([0-9]+).*/\2/p' "$log" | tail -1)
  fails=$(sed -nE 's/.*tests passed, ([0-9]+) tests failed out of ([0-9]+).*/\1/p' "$log" | tail -1)
  rm -f "$log"
  if [[ -z $total ]]; then
    echo "test: ctest ($preset) printed no summary (rc=$rc)" >&2
    failed=$((failed + 1))
    return
  fi
  passed=$((passed + total - fails))
  failed=$((failed + fails))
  if [[ $rc -ne 0 && $fails -eq 0 ]]; then failed=$((failed + 1)); fi
}

echo "== build (release)"
scripts/build.sh release
run_ctest release

if [[ ${ASTIS_SKIP_ASAN:-0} != 1 ]]; then
  echo "== build (asan: ASan+UBSan)"
  scripts/build.sh asan
  run_ctest asan
fi

# TSan over the concurrent parts only (store, kube watch, edge and gate 4's
# coalesced pod reads, the per-organisation CVS router, SDK engine, net, CVS,
# the PKCS#11 session pool, the inject webhook's server and certificate reload, and the
# audit log's sync thread):
# building everything a third time would double the run for code that has no
# threads of its own.
tsan_targets=(store_test kube_watch_test edge_watch_test edge_service_test edge_cvs_router_test sdk_engine_test
  sdk_real_edge_test net_test cvs_test edge_fresh_pods_test hsm_test inject_test audit_test edge_unit_test)
if [[ ${ASTIS_SKIP_TSAN:-0} != 1 ]]; then
  echo "== build (tsan: ${tsan_targets[*]})"
  cmake --preset tsan >/dev/null
  cmake --build --preset tsan -j "$(nproc)" --target "${tsan_targets[@]}"
  for t in "${tsan_targets[@]}"; do
    bin=$(find build/tsan/src -name "$t" -type f -perm -u+x | head -1)
    echo "-- tsan: $t"
    if TSAN_OPTIONS="halt_on_error=1 second_deadlock_stack=1 suppressions=$root/tools/tsan-suppressions.txt" \
      "$bin" --gtest_brief=1 > "build/tsan/$t.log" 2>&1; then
      passed=$((passed + 1))
      tail -1 "build/tsan/$t.log"
    else
      failed=$((failed + 1))
      echo "test: tsan $t FAILED (build/tsan/$t.log):" >&2
      tail -40 "build/tsan/$t.log" >&2
    fi
  done
fi

fuzz_secs=${ASTIS_FUZZ_SECONDS:-15}
if [[ $fuzz_secs != 0 ]]; then
  echo "== fuzz (${fuzz_secs}s per target)"
  if scripts/fuzz.sh "$fuzz_secs"; then
    passed=$((passed + 1))
  else
    failed=$((failed + 1))
  fi
fi

cd "$root"
disk_report
echo
echo "test summary (release + asan ctest cases, each tsan binary as one, fuzz run as one):"
echo "$passed passed, $failed failed"
[[ $failed -eq 0 ]]
