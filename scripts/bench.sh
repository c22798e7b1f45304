#!/usr/bin/env bash
# bench.sh — the whole performance comparison (docs/performance.md, issue #8):
# builds a RelWithDebInfo tree with the benchmarks, runs every Google
# Benchmark microbenchmark, starts the Kubernetes API stand-in
# (astis-kube-standin) and a real edge (`astis serve`, embedded CVS, SQLite,
# pod watch), registers the cluster, workload and API key with the `astis`
# CLI, runs astis-bench against it (N pods, keep-alive, real tokens and DPoP
# proofs; the crypto floor measured in the same run), and writes a Markdown
# report with the exact commands to bench/results/<date>-<host>.md.
#
#   ASTIS_BENCH_BUILD    build directory (default build/bench)
#   ASTIS_BENCH_PODS     concurrent pods (default 64)
#   ASTIS_BENCH_SECONDS  seconds per load phase (default 10)
#   ASTIS_BENCH_BATCH    capsules per batched unwrap (default 16)
#   ASTIS_BENCH_MIN_TIME Google Benchmark min time per benchmark, seconds (default 0.3)
#   ASTIS_BENCH_OUT      report path (default bench/results/<date>-<host>.md)
#   ASTIS_BENCH_NO_BUILD=1  use the binaries already in ASTIS_BENCH_BUILD as they are
#   ASTIS_BENCH_PERF=FILE   also profile the edge during the external (closed-loop) load, or with
#                           ASTIS_BENCH_ONLY_LOAD=open the open-loop one, with
#                           `perf record -e cpu-clock -g` into FILE (then: perf report -i FILE);
#                           ASTIS_BENCH_PERF_FREQ (default 2000 Hz), ASTIS_BENCH_PERF_CALLGRAPH (default fp;
#                           dwarf unwinds this RelWithDebInfo build's own frames, which fp cannot)
#   ASTIS_BENCH_ONLY_LOAD=1 stop after the external load (profiling runs);
#                           =open: only the open-loop load (ASTIS_BENCH_PHASES, ASTIS_BENCH_RATE)
#                           =gate4: only the gate-4 freshness and cluster-count arms
#                           =renewal: only the lease-renewal arm (in process, no external edge)
#                           =tenancy: only the organisations-at-scale arm (in process, no external edge)
#   ASTIS_BENCH_PHASES   phases of the external load (default establish,unwrap,batch)
#   ASTIS_BENCH_RATE     open-loop requests/s offered in total (default 200)
#   ASTIS_BENCH_INPROC=0 skip the in-process comparison run
#   ASTIS_BENCH_SOAK     soak: pods/sessions to establish after the load (default 0: skipped)
#   ASTIS_BENCH_THREADS  the edge's listen.threads (default 0: the edge's default, here 1 per core)
#   ASTIS_BENCH_EDGE_YAML  YAML appended to every edge configuration (e.g. "token: {verified_cache_entries: 0}"
#                        for the before/after of the verified-token cache)
#   ASTIS_BENCH_EDGE_PRELOAD  LD_PRELOAD for `astis serve` (the allocator comparison in docs/performance.md)
#   ASTIS_BENCH_GATE4=0  skip the gate-4 freshness arms (max_staleness_ms 60000 / 0 / 1000, then
#                        1,000 registered clusters); ASTIS_BENCH_GATE4_SECONDS per phase (default: SECONDS)
#   ASTIS_BENCH_RENEWAL=0  skip the lease-renewal arm: ASTIS_BENCH_RENEWAL_PODS idle pods (default 1000)
#                        renewing ASTIS_BENCH_RENEWAL_TTL-second leases (default 30; margin and the edge's
#                        nonce window and idle timeout scaled by TTL / 900) on the SDK's schedule for three
#                        periods, then a 20 s baseline without renewals, in process (about 2.5 minutes)
#   ASTIS_BENCH_TENANCY=0  skip the organisations-at-scale arm (docs/performance.md "Organisations at scale"): the
#                        same closed-loop establish + unwrap load on two in-process edges, one with 1 organisation,
#                        one with ASTIS_BENCH_TENANCY_ORGS (default 1000) organisations x ASTIS_BENCH_TENANCY_CLUSTERS
#                        (default 10) clusters (pods in one, then spread over many), alternating for
#                        ASTIS_BENCH_TENANCY_ROUNDS rounds (default 3) of ASTIS_BENCH_TENANCY_SECONDS per phase
#                        (default 8); then an admin apply of ASTIS_BENCH_APPLY_WORKLOADS (default 1000) workloads in
#                        process (SQLite; PostgreSQL when installed) and with `astis apply -f` (about 3 minutes)
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
build=${ASTIS_BENCH_BUILD:-build/bench}
pods=${ASTIS_BENCH_PODS:-64}
secs=${ASTIS_BENCH_SECONDS:-10}
batch=${ASTIS_BENCH_BATCH:-16}
min_time=${ASTIS_BENCH_MIN_TIME:-0.3}
out=${ASTIS_BENCH_OUT:-bench/results/$(date -u +%Y-%m-%d)-$(hostname -s).md}

log() { echo "bench: $*" >&2; }

micro=(astis_crypto_bench astis_jose_bench astis_capsule_bench astis_kube_bench astis_store_bench astis_edge_bench)
if [[ ${ASTIS_BENCH_NO_BUILD:-0} != 1 ]]; then
  log "build ($build)"
  cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DASTIS_BUILD_BENCH=ON \
    -DASTIS_BUILD_TESTS=OFF >/dev/null
  cmake --build "$build" -j "$(nproc)" --target astis astis-bench astis-kube-standin astis_run
  # A microbenchmark that does not build is reported, not fatal.
  cmake --build "$build" -j "$(nproc)" --target "${micro[@]}" -- -k 0 || log "some microbenchmarks did not build"
fi

# Lease renewal per idle pods (docs/performance.md "Lease renewal per 1,000
# idle pods"): in process, because the edge's session TTL is compressed.
renewal_pods=${ASTIS_BENCH_RENEWAL_PODS:-1000}
renewal_ttl=${ASTIS_BENCH_RENEWAL_TTL:-30}
renewal_cmd=("$build/bench/astis-bench" --in-process --idle-pods "$renewal_pods" --session-ttl "$renewal_ttl"
  --idle-baseline-seconds 20 --expect-clean)
if [[ ${ASTIS_BENCH_ONLY_LOAD:-0} == renewal ]]; then
  log "lease renewal: $renewal_pods idle pods, TTL ${renewal_ttl}s"
  "${renewal_cmd[@]}"
  echo
  echo "Command: ${renewal_cmd[*]}"
  exit 0
fi

# Organisations at scale (docs/performance.md "Organisations at scale"): in
# process, then `astis apply -f` of a generated file on a fresh SQLite store.
tenancy_orgs=${ASTIS_BENCH_TENANCY_ORGS:-1000}
tenancy_clusters=${ASTIS_BENCH_TENANCY_CLUSTERS:-10}
tenancy_secs=${ASTIS_BENCH_TENANCY_SECONDS:-8}
tenancy_rounds=${ASTIS_BENCH_TENANCY_ROUNDS:-3}
apply_workloads=${ASTIS_BENCH_APPLY_WORKLOADS:-1000}
tenancy_cmd=("$build/bench/astis-bench" --in-process --orgs "$tenancy_orgs" --clusters-per-org "$tenancy_clusters"
  --pods "$pods" --seconds "$tenancy_secs" --tenancy-rounds "$tenancy_rounds" --phases establish,unwrap
  --apply-workloads "$apply_workloads"
  --apply-clusters 10)
# tenancy_arm OUT: the in-process arm and the CLI apply, as Markdown in OUT.
tenancy_arm() {
  local out=$1 dir
  dir=$(mktemp -d)
  log "organisations at scale: 1 vs $tenancy_orgs organisations x $tenancy_clusters clusters," \
    "$tenancy_rounds rounds of ${tenancy_secs}s per phase"
  echo "- load: $(cut -d' ' -f1-3 /proc/loadavg) (1, 5, 15 min) before the arm" >"$dir/head.md"
  "${tenancy_cmd[@]}" --out "$dir/inproc.md" >/dev/null || log "tenancy arm: not clean (see the report)"
  # `astis apply -f`: 10 clusters and the workloads in one file, first
  # (all created), again (all unchanged), then every tenth allowlist changed.
  python3 - "$dir" "$apply_workloads" <<'PY'
import json, sys
d, n = sys.argv[1], int(sys.argv[2])
# RFC 7515 A.3's P-256 public key: a valid JWKS (apply checks it).
jwks = {"keys": [{"kty": "EC", "crv": "P-256", "x": "f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU",
                  "y": "x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0", "kid": "k", "alg": "ES256", "use": "sig"}]}
json.dump(jwks, open(f"{d}/jwks.json", "w"))
for name, changed in (("apply.yaml", False), ("apply-10pct.yaml", True)):
    docs = []
    for c in range(10):
        docs.append(f"apiVersion: astis.dev/v1\nkind: Cluster\nmetadata:\n  name: prod-{c}\nspec:\n"
                    f"  issuer: https://prod-{c}.apply.invalid\n  jwksFile: jwks.json\n"
                    f"  apiUrl: https://prod-{c}.apply.invalid:6443\n  caFile: /etc/astis/prod-{c}-ca.pem\n"
                    f"  tokenFile: /etc/astis/prod-{c}-token\n")
    for i in range(n):
        imgs = [f"sha256:{i:032x}{1:032x}", f"sha256:{i:032x}{2:032x}"]
        if changed and i % 10 == 0:
            imgs.append(f"sha256:{i:032x}{3:032x}")
        docs.append(f"apiVersion: astis.dev/v1\nkind: Workload\nspec:\n  cluster: prod-{i % 10}\n"
                    f"  namespace: team-{i // 50}\n  serviceAccount: svc-{i}\n  images:\n"
                    + "".join(f"  - {x}\n" for x in imgs))
    open(f"{d}/{name}", "w").write("---\n".join(docs))
PY
  "$astis" org add --store "$dir/apply.db" --name apply-bench --tier standard >/dev/null
  {
    echo
    echo "\`astis apply -f\` (one process each: YAML parse, checks, one transaction; fresh SQLite file):"
    echo
    echo "| apply | s (wall) | exit | changed lines |"
    echo "| --- | ---: | ---: | ---: |"
  } >"$dir/cli.md"
  local step file t0 t1 rc wall changed
  for step in "first (all created):apply.yaml" "again (all unchanged):apply.yaml" "10% changed:apply-10pct.yaml"; do
    file=${step#*:}
    t0=$(date +%s%N)
    rc=0
    "$astis" apply --store "$dir/apply.db" --org apply-bench -f "$dir/$file" >"$dir/apply.out" \
      2>"$dir/apply.err" || rc=$?
    t1=$(date +%s%N)
    wall=$(awk -v n=$((t1 - t0)) 'BEGIN {printf "%.3f", n / 1e9}')
    changed=$(grep -cv ' unchanged$' "$dir/apply.out" || true)
    echo "| ${step%%:*} | $wall | $rc | $changed |" >>"$dir/cli.md"
    if [[ -s $dir/apply.err ]]; then
      echo "- ${step%%:*}: \`$(head -c 200 "$dir/apply.err" | tr '\n' ' ')\`" >>"$dir/cli.err"
    fi
  done
  {
    cat "$dir/head.md"
    echo
    cat "$dir/inproc.md"
    cat "$dir/cli.md"
    if [[ -s $dir/cli.err ]]; then echo; echo "Errors of \`astis apply\`:"; echo; cat "$dir/cli.err"; fi
    echo
    echo "Commands: \`${tenancy_cmd[*]}\`; \`$astis org add --store \$D/apply.db --name apply-bench --tier standard\`;"
    echo "\`$astis apply --store \$D/apply.db --org apply-bench -f \$D/apply.yaml\` (twice), then"
    echo "\`-f \$D/apply-10pct.yaml\`."
  } >"$out"
  rm -rf "$dir"
}
astis="$build/src/cli/astis"
if [[ ${ASTIS_BENCH_ONLY_LOAD:-0} == tenancy ]]; then
  only_out=$(mktemp)
  tenancy_arm "$only_out"
  cat "$only_out"
  rm -f "$only_out"
  exit 0
fi

work=$(mktemp -d)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT

# cmd: run and record a command (the report lists every one).
commands=()
cmd() {
  commands+=("$*")
  "$@"
}

standin="$build/tools/kube-standin/astis-kube-standin"
loadgen="$build/bench/astis-bench"

log "Kubernetes API stand-in"
mkdir -p "$work/kube"
commands+=("$standin --dir \$W/kube --port 0 &")
"$standin" --dir "$work/kube" --port 0 2>"$work/standin.log" &
pids+=($!)
for _ in $(seq 1 200); do [[ -s $work/kube/url ]] && break; sleep 0.05; done
[[ -s $work/kube/url ]] || { log "stand-in did not start"; cat "$work/standin.log" >&2; exit 1; }

log "org key, edge TLS, store records"
cmd "$astis" keygen --out "$work/keys" >/dev/null
mkdir -p "$work/tls"
cmd "$loadgen" pki --out "$work/tls" >/dev/null
store="$work/edge.db"
digest=sha256:5f0c0e8f3b6a4d1c9e2b7a6f5d4c3b2a19087f6e5d4c3b2a1908f7e6d5c4b3a2
cmd "$astis" cluster add --store "$store" --name bench-c1 --issuer "$(cat "$work/kube/issuer")" --audience astis \
  --jwks-file "$work/kube/jwks.json" --api-url "$(cat "$work/kube/url")" --ca-file "$work/kube/ca.crt" \
  --token-file "$work/kube/read.token" --mode strict >/dev/null
cmd "$astis" workload add --store "$store" --cluster bench-c1 --namespace bench --service-account loadgen \
  --image "$digest" >/dev/null
commands+=("$astis apikey create --store $store --cluster bench-c1 --namespace bench --service-account loadgen --expires-in 1d > \$W/apikey")
( umask 077; "$astis" apikey create --store "$store" --cluster bench-c1 --namespace bench \
  --service-account loadgen --expires-in 1d >"$work/apikey" )

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# write_edge_config FILE PORT [EXTRA_YAML]: the edge configuration every run
# uses (rate limits raised out of the way), plus EXTRA_YAML appended.
write_edge_config() {
  local file=$1 port=$2 extra=${3:-}
  cat >"$file" <<YAML
listen:
  address: 127.0.0.1
  port: $port
  threads: ${ASTIS_BENCH_THREADS:-0}
tls:
  cert_file: $work/tls/server.pem
  key_file: $work/tls/server-key.pem
external_base_url: https://127.0.0.1:$port
store:
  backend: sqlite
  path: $store
cvs:
  mode: embedded
  org_keys: $work/keys/org-key.jwk
audit_log: $work/audit.jsonl
limits:
  rate_per_api_key_per_minute: 1000000
  rate_per_pod_uid_per_minute: 1000000
YAML
  if [[ -n $extra ]]; then printf '%s\n' "$extra" >>"$file"; fi
  if [[ -n ${ASTIS_BENCH_EDGE_YAML:-} ]]; then printf '%s\n' "$ASTIS_BENCH_EDGE_YAML" >>"$file"; fi
}

# start_edge CONFIG LOG: starts `astis serve`, sets edge_pid, waits for it.
start_edge() {
  local config=$1 elog=$2
  LD_PRELOAD=${ASTIS_BENCH_EDGE_PRELOAD:-} "$astis" serve --config "$config" 2>"$elog" &
  edge_pid=$!
  pids+=("$edge_pid")
  for _ in $(seq 1 200); do grep -q "serving on" "$elog" 2>/dev/null && break; sleep 0.05; done
  grep -q "serving on" "$elog" || { log "edge did not start"; cat "$elog" >&2; exit 1; }
  sleep 1  # let the pod watch's first LIST complete
}

stop_edge() {
  kill -TERM "$edge_pid" 2>/dev/null || true
  wait "$edge_pid" 2>/dev/null || true
}

port=$(free_port)
write_edge_config "$work/edge.yaml" "$port"

log "edge on 127.0.0.1:$port"
commands+=("$astis serve --config \$W/edge.yaml &   # rate limits raised to 1000000/min, see the config below")
start_edge "$work/edge.yaml" "$work/edge.log"

# The edge and workload every external astis-bench run targets.
target=(--edge-url "https://127.0.0.1:$port" --edge-ca "$work/tls/ca.pem" --api-key-file "$work/apikey"
  --kube-dir "$work/kube" --org-public "$work/keys/org-key.pub.jwk" --cluster bench-c1 --namespace bench
  --service-account loadgen --digest "$digest")
# Where the guarantee floor's audit sync and store write run: the edge's own
# audit log and store (docs/performance.md "The guarantee floor").
floorargs=(--audit-log "$work/audit.jsonl" --store-file "$store")
# The transport floor's server gets the edge's thread count (astis-bench's
# default is the edge's default, one per core).
if [[ ${ASTIS_BENCH_THREADS:-0} != 0 ]]; then floorargs+=(--transport-threads "$ASTIS_BENCH_THREADS"); fi

only=${ASTIS_BENCH_ONLY_LOAD:-0}
phases=${ASTIS_BENCH_PHASES:-establish,unwrap,batch}
rate=${ASTIS_BENCH_RATE:-200}
# perf_start / perf_stop: with ASTIS_BENCH_PERF, profile the edge during
# one load run (`perf record -e cpu-clock -g`: hardware counters need not exist).
perf_pid=
perf_start() {
  if [[ -n ${ASTIS_BENCH_PERF:-} ]]; then
    perf record -e cpu-clock -F "${ASTIS_BENCH_PERF_FREQ:-2000}" --call-graph "${ASTIS_BENCH_PERF_CALLGRAPH:-fp}" \
      -p "$edge_pid" -o "$ASTIS_BENCH_PERF" 2>"$work/perf.log" &
    perf_pid=$!
  fi
}
perf_stop() {
  if [[ -n $perf_pid ]]; then
    kill -INT "$perf_pid" 2>/dev/null || true
    wait "$perf_pid" 2>/dev/null || true
    perf_pid=
    log "profile of the edge in $ASTIS_BENCH_PERF"
  fi
}
if [[ $only == open ]]; then
  log "open-loop load only: $pods pods, $rate requests/s offered, ${secs}s per phase"
  perf_start
  cmd "$loadgen" "${target[@]}" "${floorargs[@]}" --server-pid "$edge_pid" --pods "$pods" --seconds "$secs" \
    --batch "$batch" --rate "$rate" --phases "$phases" --out "$work/open.md" >/dev/null
  perf_stop
  cat "$work/open.md"
  exit 0
fi

loadout="$work/load.md"
openout="$work/open.md"
cold="$work/cold.txt"
soakout="$work/soak.md"
: >"$loadout"; : >"$openout"; : >"$cold"; : >"$soakout"
if [[ $only != gate4 ]]; then
log "load: $pods pods, ${secs}s per phase"
perf_start
cmd "$loadgen" "${target[@]}" "${floorargs[@]}" --server-pid "$edge_pid" --pods "$pods" --seconds "$secs" \
  --batch "$batch" --phases "$phases" --out "$loadout" >/dev/null
perf_stop
if [[ $only == 1 ]]; then
  cat "$loadout"
  exit 0
fi

log "open-loop load: $pods pods, $rate requests/s offered, ${secs}s per phase"
cmd "$loadgen" "${target[@]}" "${floorargs[@]}" --server-pid "$edge_pid" --pods "$pods" --seconds "$secs" \
  --batch "$batch" --rate "$rate" --out "$openout" >/dev/null

log "SDK cold start: astis-run, process start to plaintext, against the same edge"
mkdir -p "$work/pod"
cmd "$loadgen" "${target[@]}" pod --out "$work/pod"
runner="$build/src/sdk/astis-run"
commands+=("ASTIS_EDGE_URL=https://127.0.0.1:$port ASTIS_CA_FILE=\$W/tls/ca.pem ASTIS_API_KEY_FILE=\$W/apikey ASTIS_TOKEN_PATH=\$W/pod/token ASTIS_SECRETS_DIR=\$W/pod/secrets $runner --env V=bench-value -- /bin/true   # x20, timed")
for _ in $(seq 1 20); do
  t0=$(date +%s%N)
  ASTIS_EDGE_URL="https://127.0.0.1:$port" ASTIS_CA_FILE="$work/tls/ca.pem" ASTIS_API_KEY_FILE="$work/apikey" \
    ASTIS_TOKEN_PATH="$work/pod/token" ASTIS_SECRETS_DIR="$work/pod/secrets" \
    "$runner" --env V=bench-value -- /bin/true
  t1=$(date +%s%N)
  echo $(( (t1 - t0) / 1000 )) >>"$cold"
done

# The soak leaves N sessions on the edge, so it runs after everything else
# that uses this edge.
soak=${ASTIS_BENCH_SOAK:-0}
if (( soak > 0 )); then
  log "soak: $soak pods, one session each"
  cmd "$loadgen" "${target[@]}" --server-pid "$edge_pid" --phases "" \
    --soak-sessions "$soak" --store-file "$store" --out "$soakout" >/dev/null
fi

fi  # only != gate4

# Gate 4 from fresh state (docs/edge.md "Gate 4 from fresh state"): the same
# establish + unwrap load against edges that differ only in
# gate4.max_staleness_ms, then 1 against 1,000 registered clusters. Each arm
# is a fresh edge on the same store; the API reads come from the edge's own
# astis_gate4_api_reads_total.
gate4out="$work/gate4.md"
: >"$gate4out"
if [[ ${ASTIS_BENCH_GATE4:-1} == 1 ]]; then
  stop_edge
  g4secs=${ASTIS_BENCH_GATE4_SECONDS:-$secs}
  g4rows="$work/gate4.rows"
  : >"$g4rows"
  # gate4_reads PORT: the edge's astis_gate4_api_reads_total, summed over clusters.
  gate4_reads() {
    curl -sf --cacert "$work/tls/ca.pem" "https://127.0.0.1:$1/metrics" |
      awk '/^astis_gate4_api_reads_total/ {n += $NF} END {printf "%d\n", n}'
  }
  # gate4_arm LABEL CLUSTERS STALENESS_MS
  gate4_arm() {
    local label=$1 nclusters=$2 staleness=$3 gport
    gport=$(free_port)
    write_edge_config "$work/edge-$label.yaml" "$gport" "gate4:
  max_staleness_ms: $staleness"
    log "gate 4 arm $label: $nclusters cluster(s), max_staleness_ms $staleness, ${g4secs}s per phase"
    commands+=("$astis serve --config \$W/edge-$label.yaml &   # edge.yaml + gate4.max_staleness_ms: $staleness")
    start_edge "$work/edge-$label.yaml" "$work/edge-$label.log"
    local gtarget=("${target[@]}")
    gtarget[1]="https://127.0.0.1:$gport"
    local phase mode r0 r1 t0 t1 ratearg
    # One load run per phase and loop, so each run's API reads are its own:
    # closed loop (saturation: CPU per op) and open loop at ASTIS_BENCH_RATE
    # (moderate load: p99 without queueing behind the other pods).
    for phase in establish unwrap; do
      for mode in closed open; do
        ratearg=()
        [[ $mode == open ]] && ratearg=(--rate "$rate")
        r0=$(gate4_reads "$gport")
        t0=$(date +%s%N)
        cmd "$loadgen" "${gtarget[@]}" "${floorargs[@]}" --gate4-max-staleness-ms "$staleness" \
          --server-pid "$edge_pid" --pods "$pods" --seconds "$g4secs" \
          --phases "$phase" "${ratearg[@]}" --out "$work/gate4-$label-$phase-$mode.md" >/dev/null
        t1=$(date +%s%N)
        r1=$(gate4_reads "$gport")
        # label clusters staleness reads wall_ms mode phase requests/s p99 cpu_us_per_op
        awk -v l="$label" -v c="$nclusters" -v st="$staleness" -v rd=$((r1 - r0)) -v ms=$(((t1 - t0) / 1000000)) \
          -v m="$mode" -F'|' '$2 ~ /^ (establish|unwrap) $/ {gsub(/ /, "", $2); print l, c, st, rd, ms, m, $2, $4, $8, $12}' \
          "$work/gate4-$label-$phase-$mode.md" >>"$g4rows"
      done
    done
    stop_edge
  }
  # 60 s reuse is the old watch-cache path's cost: after the first read of a
  # pod, no API read on the request path for the rest of the arm.
  gate4_arm cache-like 1 60000
  gate4_arm read-every 1 0
  gate4_arm default 1 1000
  log "registering 999 more clusters"
  for n in $(seq 2 1000); do
    "$astis" cluster add --store "$store" --name "bench-c$n" --issuer "https://bench-c$n.invalid" --audience astis \
      --jwks-file "$work/kube/jwks.json" --api-url "$(cat "$work/kube/url")" --ca-file "$work/kube/ca.crt" \
      --token-file "$work/kube/read.token" --mode strict >/dev/null
  done
  commands+=("for n in 2..1000: $astis cluster add --store $store --name bench-c\$n --issuer https://bench-c\$n.invalid ... (as bench-c1)")
  gate4_arm default-1000-clusters 1000 1000
  python3 - "$g4rows" "$pods" "$rate" >"$gate4out" <<'PY'
import sys
rows = [l.split() for l in open(sys.argv[1])]
pods, rate = int(sys.argv[2]), sys.argv[3]
# label clusters staleness reads wall_ms mode phase requests/s p99 cpu
by = {(r[0], r[5], r[6]): r for r in rows}
f = float
print("| arm | clusters | max_staleness_ms | load | phase | requests/s | p99 ms | server CPU µs/op "
      "| CPU vs cache-like | p99 vs cache-like | API reads/s | API reads/s per pod |")
print("| --- | ---: | ---: | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
for r in rows:
    label, nc, st, reads, ms, mode, phase, rps, p99, cpu = r
    base = by.get(("cache-like", mode, phase))
    reads_per_s = int(reads) / (int(ms) / 1000.0)
    cr = f(cpu) / f(base[9]) if base else float("nan")
    pr = f(p99) / f(base[8]) if base else float("nan")
    load = "closed" if mode == "closed" else f"open {rate}/s"
    print(f"| {label} | {nc} | {st} | {load} | {phase} | {rps} | {p99} | {cpu} | {cr:.2f} | {pr:.2f} "
          f"| {reads_per_s:.1f} | {reads_per_s / pods:.2f} |")
print()
for mode in ("closed", "open"):
    for p in ("establish", "unwrap"):
        one, many = by.get(("default", mode, p)), by.get(("default-1000-clusters", mode, p))
        if one and many:
            print(f"- {mode} loop, {p}: server CPU per request with 1,000 registered clusters / with 1 = "
                  f"{f(many[9]) / f(one[9]):.2f}")
print()
print("API reads/s = the edge's astis_gate4_api_reads_total over one load run (its pod setup included),")
print(f"divided by that run's wall time; per pod = / {pods} pods.")
PY
fi

if [[ $only == gate4 ]]; then
  cat "$gate4out"
  exit 0
fi

renewalout="$work/renewal.md"
: >"$renewalout"
if [[ ${ASTIS_BENCH_RENEWAL:-1} == 1 ]]; then
  log "lease renewal: $renewal_pods idle pods, TTL ${renewal_ttl}s"
  cmd "${renewal_cmd[@]}" --out "$renewalout" >/dev/null
fi

tenancyout="$work/tenancy.md"
: >"$tenancyout"
if [[ ${ASTIS_BENCH_TENANCY:-1} == 1 ]]; then
  commands+=("${tenancy_cmd[*]}")
  tenancy_arm "$tenancyout"
fi

inproc="$work/inproc.md"
: >"$inproc"
if [[ ${ASTIS_BENCH_INPROC:-1} == 1 ]]; then
  log "load (in process, for comparison)"
  cmd "$loadgen" --in-process --pods "$pods" --seconds "$secs" --batch "$batch" --out "$inproc" >/dev/null
fi

log "microbenchmarks"
microout="$work/micro.txt"
: >"$microout"
for b in "${micro[@]}"; do
  bin="$build/bench/$b"
  [[ -x $bin ]] || { log "$b not built, skipped"; echo "($b not built)" >>"$microout"; continue; }
  cmd "$bin" --benchmark_min_time="$min_time" --benchmark_format=console --benchmark_color=false \
    >>"$microout" 2>/dev/null || { log "$b failed"; echo "($b failed)" >>"$microout"; }
done

mkdir -p "$(dirname "$out")"
{
  echo "# ASTIS performance report"
  echo
  echo "- date: $(date -u +%Y-%m-%dT%H:%M:%SZ)"
  echo "- commit: $(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo unknown)$(git -C "$root" diff --quiet 2>/dev/null || echo ' (+ local changes)')"
  echo "- machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(uname -sr)"
  echo "- build: RelWithDebInfo ($build), $(${CXX:-c++} --version | head -1)"
  echo
  echo "## Against a real edge (\`astis serve\`, embedded CVS, SQLite file, pod watch) and the stand-in"
  echo
  cat "$loadout"
  echo
  echo "## Open loop against the same edge (\`--rate $rate\`, $pods pods)"
  echo
  cat "$openout"
  if [[ -s $soakout ]]; then
    echo
    echo "## Soak (\`--soak-sessions $soak\`)"
    echo
    cat "$soakout"
  fi
  echo
  if [[ -s $gate4out ]]; then
    echo "## Gate 4 from fresh state (\`gate4.max_staleness_ms\`) and 1 vs 1,000 registered clusters"
    echo
    echo "Same load ($pods pods, establish then unwrap, each closed loop and open loop at $rate/s, ${ASTIS_BENCH_GATE4_SECONDS:-$secs}s per run), one fresh edge per arm."
    echo "cache-like = confirmations reused for 60 s, i.e. no API read on the request path after a pod's first"
    echo "(the cost of the old watch-cache path); read-every = a direct GET per decision; default = 1 s."
    echo
    cat "$gate4out"
    echo
  fi
  if [[ -s $renewalout ]]; then
    echo "## Lease renewal per idle pods (in process, time compressed)"
    echo
    cat "$renewalout"
    echo
  fi
  if [[ -s $tenancyout ]]; then
    echo "## Organisations at scale (in process: 1 vs $tenancy_orgs organisations x $tenancy_clusters clusters;" \
      "admin apply)"
    echo
    cat "$tenancyout"
    echo
  fi
  echo "## SDK cold start (\`astis-run --env V=bench-value -- /bin/true\`, 20 runs, µs)"
  echo
  echo "Process start to plaintext in the environment, plus ending the session and exec of /bin/true"
  echo "(an upper bound on start-to-first-plaintext; target < 20 ms):"
  echo
  sort -n "$cold" | awk '{a[NR]=$1} END {printf "min %d, median %d, p90 %d, max %d\n", a[1], a[int((NR+1)/2)], a[int(NR*0.9)], a[NR]}'
  echo
  echo "## In process (edge + stand-in inside astis-bench)"
  echo
  cat "$inproc"
  echo
  echo "## Microbenchmarks (Google Benchmark, one thread)"
  echo
  echo '```'
  grep -v '^\*\*\*' "$microout"
  echo '```'
  echo
  echo "## Commands (\$W is a fresh temporary directory)"
  echo
  echo '```'
  for c in "${commands[@]}"; do echo "${c//$work/\$W}"; done
  echo '```'
  echo
  echo "Edge configuration:"
  echo
  echo '```yaml'
  sed "s#$work#\$W#g" "$work/edge.yaml"
  echo '```'
} >"$out"
log "wrote $out"
