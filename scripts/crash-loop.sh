#!/usr/bin/env bash
# crash-loop.sh [N] [BUILD_DIR] — kill `astis serve` with SIGKILL under load N
# times (default 100) and check what survives each kill (issue #22;
# docs/operations.md "Crash consistency").
#
# Set up once, in a temporary directory: the Kubernetes API stand-in
# (tools/kube-standin, driven with kubectl), one organisation with its org
# key in the embedded CVS, a cluster, a workload and an API key in a SQLite
# store: the demo's single-process configuration (scripts/demo-run.sh).
# Then, N times:
#   1. start `astis serve`; `astis audit verify` must pass on the log the
#      previous kill left (the restart repairs a torn tail, docs/audit-log.md);
#   2. ASTIS_CRASH_CLIENTS (default 3) pods unwrap in a loop with the SDK
#      (`astis-run`, one process per unwrap, each capsule under its own
#      Secret key so every unwrap is one audit line a client can name);
#   3. after a random 0.2-2.5 s, SIGKILL the server, let the clients finish;
#   4. check: `astis audit verify` passes, or reports a torn tail only
#      (counted; the next start must repair it); the store opens (`astis org
#      list`, SQLite integrity_check); and every value a client received has
#      its unwrap line among the log's complete lines.
# Prints one line per iteration and the totals; exit 0 when every check
# passed. ASTIS_CRASH_SEED fixes the random kill times. Needs kubectl and
# python3 (scripts/install-deps.sh). The test command runs
# `crash-loop.sh 5` (ctest crash_loop, tests/ha/CMakeLists.txt).
set -euo pipefail
iterations=${1:-100}
build=$(cd "${2:-$(dirname "$0")/../build/release}" && pwd)
clients=${ASTIS_CRASH_CLIENTS:-3}
per_client=60  # capsules sealed per client and iteration (more than a 2.5 s window uses)
astis="$build/src/cli/astis"
astis_run="$build/src/sdk/astis-run"
standin="$build/tools/kube-standin/astis-kube-standin"
for bin in "$astis" "$astis_run" "$standin"; do
  [[ -x $bin ]] || { echo "crash-loop: $bin is not built" >&2; exit 1; }
done
command -v kubectl >/dev/null || { echo "crash-loop: kubectl not found (scripts/install-deps.sh)" >&2; exit 1; }
seed=${ASTIS_CRASH_SEED:-$(( $(date +%s) % 32768 ))}
RANDOM=$seed

work=$(mktemp -d)
pids=()
server_pid=
cleanup() {
  local rc=$?
  [[ -n $server_pid ]] && kill -KILL "$server_pid" 2>/dev/null
  for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  if [[ $rc -ne 0 && -n ${ASTIS_CRASH_KEEP:-} ]]; then echo "crash-loop: kept $work" >&2; else rm -rf "$work"; fi
  exit "$rc"
}
trap cleanup EXIT INT TERM
fail() { echo "crash-loop: FAIL: $*" >&2; exit 1; }
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_for() {  # wait_for FILE SECONDS
  local i
  for ((i = 0; i < $2 * 20; i++)); do [[ -s $1 ]] && return 0; sleep 0.05; done
  fail "timed out waiting for $1"
}

# ---- once: the cluster's API, the organisation, its store rows
"$standin" --dir "$work/kube" --port 0 2> "$work/kube.log" &
pids+=($!)
wait_for "$work/kube/url" 10
kc() { kubectl --kubeconfig "$work/kube/kubeconfig" "$@"; }
db="$work/astis.db"
digest="sha256:$(printf 'crash-loop app' | sha256sum | cut -d' ' -f1)"
"$astis" org add --store "$db" --name acme --tier standard > /dev/null
mkdir -m 0700 "$work/cvs-keys"
"$astis" org key create --org acme --keys-dir "$work/cvs-keys" > "$work/org-key.pub.jwk" 2> /dev/null
"$astis" cluster add --store "$db" --org acme --name prod --issuer "$(cat "$work/kube/issuer")" --audience astis \
  --jwks-file "$work/kube/jwks.json" --api-url "$(cat "$work/kube/url")" --ca-file "$work/kube/ca.crt" \
  --token-file "$work/kube/read.token" --mode strict > /dev/null
"$astis" workload add --store "$db" --org acme --cluster prod --namespace payments --service-account api \
  --image "$digest" > /dev/null
"$astis" apikey create --store "$db" --org acme --cluster prod --namespace payments --service-account api \
  --expires-in 1d > "$work/api.key" 2> /dev/null
chmod 0400 "$work/api.key"
kc create namespace payments > /dev/null 2>&1 || true
kc apply --validate=false -f - > /dev/null <<YAML
apiVersion: v1
kind: ServiceAccount
metadata: {name: api, namespace: payments}
automountServiceAccountToken: false
YAML
port=$(free_port)
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 1 -subj "/CN=astis-crash-loop" \
  -addext "subjectAltName=IP:127.0.0.1" -keyout "$work/edge.key" -out "$work/edge.crt" 2> /dev/null
cat > "$work/edge.yaml" <<YAML
listen: {address: 127.0.0.1, port: $port}
tls: {cert_file: $work/edge.crt, key_file: $work/edge.key}
external_base_url: https://127.0.0.1:$port
store: {backend: sqlite, path: $db}
cvs: {mode: embedded, org_keys_dir: $work/cvs-keys}
audit_log: $work/audit.log
limits: {rate_per_api_key_per_minute: 1000000, rate_per_pod_uid_per_minute: 1000000}
YAML

# audit_check ANSWERED...: every key named in the ANSWERED files has an
# allowed unwrap line among the complete lines of the audit files (the main
# log, its rotated files, the organisations' trails). Prints the number of
# answered keys checked; exit 1 naming the first key without its line.
audit_check() {
  python3 - "$work" "$@" <<'PY'
import glob, json, os, sys
work, answered = sys.argv[1], sys.argv[2:]
logged = set()
files = glob.glob(os.path.join(work, "audit.log*")) + glob.glob(os.path.join(work, "audit.log.orgs", "*"))
for path in files:
    if not os.path.isfile(path):
        continue
    data = open(path, "rb").read()
    data = data[: data.rfind(b"\n") + 1]  # complete lines only: a torn tail was never acknowledged
    for raw in data.splitlines():
        try:
            line = json.loads(raw)
        except ValueError:
            continue
        if line.get("event") != "unwrap" or line.get("decision") != "allow":
            continue  # the edge's own line, the one written before the DEKs leave
        for c in line.get("capsules", []):
            logged.add(c.get("bind", {}).get("key", ""))
keys = [k.strip() for f in answered for k in open(f) if k.strip()]
for k in keys:
    if k not in logged:
        print(f"answered unwrap of {k} has no durable audit line", file=sys.stderr)
        sys.exit(1)
print(len(keys))
PY
}

# client C DIR: unwrap DIR's capsules one by one until DIR/../stop exists;
# each value received is recorded (its key) in DIR/answered.
client() {
  local dir=$2 key out
  for key in $(ls "$dir/secrets"); do
    [[ -e $dir/../stop ]] && break
    if out=$(ASTIS_EDGE_URL="https://127.0.0.1:$port" ASTIS_CA_FILE="$work/edge.crt" \
             ASTIS_API_KEY_FILE="$work/api.key" ASTIS_TOKEN_PATH="$dir/token" ASTIS_SECRETS_DIR="$dir/secrets" \
             ASTIS_PIN_WAIT_SECONDS=0 "$astis_run" --env V="$key" -- printenv V 2>> "$dir/errors"); then
      [[ $out == "v-$key" ]] || { echo "WRONG VALUE for $key" >> "$dir/errors"; continue; }
      echo "$key" >> "$dir/answered"
    fi
  done
}

kills=0 torn=0 answered_total=0 failures=0
start_server() {  # start_server: start `astis serve`, wait for "serving on" in its own lines
  local before
  touch "$work/edge.log"
  before=$(wc -c < "$work/edge.log")
  "$astis" serve --config "$work/edge.yaml" 2>> "$work/edge.log" &
  server_pid=$!
  local i
  for ((i = 0; i < 200; i++)); do
    tail -c +"$((before + 1))" "$work/edge.log" | grep -q "serving on" && return 0
    kill -0 "$server_pid" 2> /dev/null || break
    sleep 0.05
  done
  tail -20 "$work/edge.log" >&2
  fail "astis serve did not start (after $kills kills)"
}
# verify: `astis audit verify` on the main log and on acme's own trail
# (docs/tenancy.md), output in $1; the first non-zero exit code, else 0.
verify() {
  local rc=0
  "$astis" audit verify "$work/audit.log" > "$1" 2>&1 || rc=$?
  if [[ -e $work/audit.log.orgs/acme.jsonl ]]; then
    "$astis" audit verify "$work/audit.log" --org acme >> "$1" 2>&1 || { [[ $rc -ne 0 ]] || rc=$?; }
  fi
  return "$rc"
}
verify_after_restart() {
  verify "$work/verify.out" ||
    { cat "$work/verify.out" >&2; fail "audit verify fails after the restart (kill $kills)"; }
}

echo "crash-loop: $iterations iterations, $clients clients, seed $seed, in $work"
for ((it = 1; it <= iterations; it++)); do
  idir="$work/it-$it"
  mkdir -p "$idir"
  # Fresh pods each time: a session cut by the kill keeps its pod pinned.
  {
    for ((c = 1; c <= clients; c++)); do
      printf -- '---\napiVersion: v1\nkind: Pod\nmetadata: {name: crash-%d-%d, namespace: payments}\n' "$it" "$c"
      printf 'spec:\n  serviceAccountName: api\n  automountServiceAccountToken: false\n'
      printf '  containers: [{name: app, image: "registry.example/app@%s"}]\n' "$digest"
    done
  } | kc apply --validate=false -f - > /dev/null
  {
    printf 'apiVersion: v1\nkind: Secret\nmetadata: {name: crash, namespace: payments}\ntype: Opaque\nstringData:\n'
    for ((c = 1; c <= clients; c++)); do
      for ((n = 1; n <= per_client; n++)); do
        printf '  i%dc%dn%03d: v-i%dc%dn%03d\n' "$it" "$c" "$n" "$it" "$c" "$n"
      done
    done
  } > "$idir/plain.yaml"
  "$astis" seal --public-key "$work/org-key.pub.jwk" --cluster prod --namespace payments --service-account api \
    -f "$idir/plain.yaml" > "$idir/sealed.yaml"
  rm "$idir/plain.yaml"
  for ((c = 1; c <= clients; c++)); do
    mkdir -p "$idir/c$c/secrets"
    kc create token api -n payments --bound-object-kind Pod --bound-object-name "crash-$it-$c" --audience astis \
      --duration 10m > "$idir/c$c/token"
    : > "$idir/c$c/answered"
  done
  python3 - "$idir" <<'PY'
import base64, re, sys
d = sys.argv[1]
for m in re.finditer(r'^  (i\d+c(\d+)n\d+): "?([A-Za-z0-9+/=]+)"?$', open(d + "/sealed.yaml").read(), re.M):
    open(f"{d}/c{m.group(2)}/secrets/{m.group(1)}", "wb").write(base64.b64decode(m.group(3)))
PY

  start_server
  verify_after_restart  # the log the previous kill left, repaired on start if torn
  cpids=()
  for ((c = 1; c <= clients; c++)); do
    client "$c" "$idir/c$c" &
    cpids+=($!)
  done
  delay_ms=$((200 + RANDOM % 2300))
  sleep "$(printf '%d.%03d' $((delay_ms / 1000)) $((delay_ms % 1000)))"
  kill -KILL "$server_pid"
  wait "$server_pid" 2> /dev/null || true
  server_pid=
  kills=$((kills + 1))
  touch "$idir/stop"
  for pid in "${cpids[@]}"; do wait "$pid" || true; done

  # 1. the audit log verifies, or ends in a torn tail the next start repairs
  status=ok
  if verify "$idir/verify.out"; then
    :
  else
    rc=$?
    if [[ $rc -eq 3 ]] && grep -q "torn" "$idir/verify.out"; then
      torn=$((torn + 1))
      status="torn tail"
    else
      cat "$idir/verify.out" >&2
      echo "crash-loop: iteration $it: audit verify failed (exit $rc)" >&2
      failures=$((failures + 1))
      status="VERIFY FAILED"
    fi
  fi
  # 2. the store opens, and SQLite finds it intact
  store_opens=yes
  "$astis" org list --store "$db" > /dev/null 2> "$idir/store.err" || store_opens=no  # the store first, as a restart
  integrity=$(python3 -c 'import sqlite3, sys
print(sqlite3.connect(sys.argv[1]).execute("PRAGMA integrity_check").fetchone()[0])' "$db" 2>&1 || true)
  if [[ $store_opens != yes || $integrity != ok ]]; then
    cat "$idir/store.err" >&2
    echo "crash-loop: iteration $it: the store does not open cleanly" >&2
    failures=$((failures + 1))
    status="$status, STORE FAILED"
  fi
  # 3. every value a client received has its durable unwrap line
  answered_files=("$idir"/c*/answered)
  if n=$(audit_check "${answered_files[@]}"); then
    answered_total=$((answered_total + n))
  else
    failures=$((failures + 1))
    status="$status, AUDIT LINE MISSING"
    n=?
  fi
  if grep -qs "WRONG VALUE" "$idir"/c*/errors; then
    failures=$((failures + 1))
    status="$status, WRONG VALUE"
  fi
  printf 'crash-loop: %3d: killed after %4d ms, %s unwraps answered, verify: %s\n' "$it" "$delay_ms" "$n" "$status"
  rm -rf "$idir"
done

# The last kill's log, repaired by one more start.
start_server
verify_after_restart
kill -TERM "$server_pid"
wait "$server_pid" 2> /dev/null || true
server_pid=
echo "crash-loop: $iterations iterations, $kills kills (SIGKILL), $torn torn tails repaired on restart," \
  "$answered_total unwraps answered and checked against the audit log; $failures failures (seed $seed)"
[[ $failures -eq 0 ]]
