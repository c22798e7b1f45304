#!/usr/bin/env bash
# demo-run.sh BUILD_DIR — the local end-to-end demo on an already built tree.
#
# Two organisations on one ASTIS service, one on each trust tier, with names
# that collide on purpose (each has a cluster "prod" with namespace
# "payments", ServiceAccount "api", pod "payments-api-0", Secret "db-creds"):
#
#   acme    Tier 1 (standard): ASTIS's CVS holds acme's org key
#   globex  Tier 2 (HYOK): globex runs its own CVS, a process of its own;
#           the edge only routes globex's capsules to it over mutual TLS
#
# Everything runs on loopback in a temporary directory: two Kubernetes API
# stand-ins (tools/kube-standin, driven with the real kubectl), globex's
# `astis cvs`, `astis serve` (edge + ASTIS's embedded CVS, SQLite), and
# `astis-run` playing the pods. On exit, every process started here is
# stopped and the directory removed.
set -euo pipefail
build=$(cd "${1:?usage: demo-run.sh BUILD_DIR}" && pwd)
astis="$build/src/cli/astis"
astis_run="$build/src/sdk/astis-run"
standin="$build/tools/kube-standin/astis-kube-standin"
for bin in "$astis" "$astis_run" "$standin"; do
  [[ -x $bin ]] || { echo "demo: $bin is not built" >&2; exit 1; }
done
command -v kubectl >/dev/null || { echo "demo: kubectl not found (scripts/install-deps.sh installs it)" >&2; exit 1; }

work=$(mktemp -d)
pids=()
cleanup() {
  local rc=$?
  for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  rm -rf "$work"
  exit "$rc"
}
trap cleanup EXIT INT TERM
step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
fail() { echo "demo: FAIL: $*" >&2; exit 1; }
# wait_for FILE SECONDS: wait until FILE exists (a child wrote it).
wait_for() {
  local i
  for ((i = 0; i < $2 * 20; i++)); do [[ -s $1 ]] && return 0; sleep 0.05; done
  fail "timed out waiting for $1"
}
# wait_log FILE PATTERN: wait until a child's log says PATTERN.
wait_log() {
  local i
  for ((i = 0; i < 200; i++)); do grep -q "$2" "$1" && return 0; sleep 0.05; done
  cat "$1" >&2
  fail "timed out waiting for '$2' in $1"
}
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
start=$(date +%s.%N)

app_digest="sha256:$(printf 'payments-api v1.4.2' | sha256sum | cut -d' ' -f1)"
dbg_digest="sha256:$(printf 'busybox debug' | sha256sum | cut -d' ' -f1)"
declare -A secret_value=([acme]="correct horse battery staple" [globex]="tr0ub4dor and 3 more words")
orgs=(acme globex)

step "1. Two customer clusters, each its own Kubernetes API (the project's stand-in; the real kubectl talks to it)"
for org in "${orgs[@]}"; do
  "$standin" --dir "$work/kube-$org" --port 0 2> "$work/kube-$org.log" &
  pids+=($!)
done
for org in "${orgs[@]}"; do
  wait_for "$work/kube-$org/url" 10
  echo "$org: API at $(cat "$work/kube-$org/url"), issuer $(cat "$work/kube-$org/issuer")"
done
kc() { local org=$1; shift; kubectl --kubeconfig "$work/kube-$org/kubeconfig" "$@"; }

step "2. The ASTIS operator adds the two organisations, one on each tier"
db="$work/astis.db"
"$astis" org add --store "$db" --name acme --tier standard
# acme (Tier 1): its org key is generated inside ASTIS's CVS; only the public half is printed.
mkdir -m 0700 "$work/cvs-keys"
"$astis" org key create --org acme --keys-dir "$work/cvs-keys" > "$work/acme-org-key.pub.jwk"
# globex (Tier 2): globex generates its own org key and runs its own CVS; ASTIS never sees the key.
"$astis" keygen --out "$work/globex-keys" > /dev/null
pki="$work/pki"
mkdir -p "$pki"
openssl_quiet() { openssl "$@" 2> /dev/null; }
openssl_quiet req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 1 -subj "/CN=globex-ca" \
  -keyout "$pki/globex-ca.key" -out "$pki/globex-ca.crt"
issue() {  # issue NAME SUBJECT EXT: a P-256 certificate signed by globex-ca
  openssl_quiet req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "$2" \
    -keyout "$pki/$1.key" -out "$pki/$1.csr"
  openssl_quiet x509 -req -in "$pki/$1.csr" -CA "$pki/globex-ca.crt" -CAkey "$pki/globex-ca.key" \
    -CAcreateserial -days 1 -extfile <(printf '%s\n' "$3") -out "$pki/$1.crt"
}
issue globex-cvs "/CN=cvs.globex.test" "subjectAltName=DNS:cvs.globex.test,IP:127.0.0.1"
# The edge's client identity towards customers' CVSs (hyok.client_cert_file).
issue edge-hyok "/CN=astis-edge" "extendedKeyUsage=clientAuth"
edge_pin=$(openssl x509 -in "$pki/edge-hyok.crt" -outform DER | sha256sum | cut -d' ' -f1)
cvs_port=$(free_port)
cat > "$work/globex-cvs.yaml" <<YAML
listen: {address: 127.0.0.1, port: $cvs_port}
tls:
  cert_file: $pki/globex-cvs.crt
  key_file: $pki/globex-cvs.key
  client_ca_file: $pki/globex-ca.crt
  edge_client_cert_sha256: $edge_pin
org_keys: $work/globex-keys/org-key.jwk
org: globex
audit_log: $work/globex-cvs-audit.log
YAML
"$astis" cvs --config "$work/globex-cvs.yaml" 2> "$work/globex-cvs.log" &
globex_cvs_pid=$!
pids+=($globex_cvs_pid)
wait_log "$work/globex-cvs.log" "serving on"
echo "globex's CVS (its own process, its own key) on 127.0.0.1:$cvs_port"
"$astis" org add --store "$db" --name globex --tier hyok --cvs-url "https://127.0.0.1:$cvs_port" \
  --cvs-ca "$pki/globex-ca.crt" --cvs-identity cvs.globex.test
"$astis" org list --store "$db"

step "3. Each organisation's SecOps seals its Secret offline, to its own org key"
declare -A org_pub=([acme]="$work/acme-org-key.pub.jwk" [globex]="$work/globex-keys/org-key.pub.jwk")
for org in "${orgs[@]}"; do
  cat > "$work/plain-$org.yaml" <<YAML
apiVersion: v1
kind: Secret
metadata:
  name: db-creds
  namespace: payments
type: Opaque
stringData:
  password: ${secret_value[$org]}
YAML
  "$astis" seal --public-key "${org_pub[$org]}" --cluster prod --namespace payments --service-account api \
    -f "$work/plain-$org.yaml" > "$work/sealed-$org.yaml"
  rm "$work/plain-$org.yaml"
  kc "$org" apply --validate=false -f "$work/sealed-$org.yaml" | sed "s/^/$org: /"
done

step "4. What 'kubectl get secret -o yaml' (and etcd, and any backup) holds: ciphertext only"
for org in "${orgs[@]}"; do
  kc "$org" get secret db-creds -n payments -o yaml > "$work/got-$org.yaml"
  if grep -qF "${secret_value[$org]}" "$work/got-$org.yaml" ||
     grep -qF "$(printf '%s' "${secret_value[$org]}" | base64)" "$work/got-$org.yaml"; then
    fail "plaintext found in $org's Secret API read"
  fi
done
sed -n '/^data:/,/^kind:/p' "$work/got-acme.yaml" | cut -c1-110
echo "ok: neither plaintext nor its base64 is in either Secret API read"

step "5. The workloads' pods: the same names in both clusters, image pinned by digest"
cat > "$work/pod.yaml" <<YAML
apiVersion: v1
kind: ServiceAccount
metadata:
  name: api
  namespace: payments
automountServiceAccountToken: false
---
apiVersion: v1
kind: Pod
metadata:
  name: payments-api-0
  namespace: payments
spec:
  serviceAccountName: api
  automountServiceAccountToken: false
  containers:
  - name: app
    image: registry.example/payments/api@$app_digest
YAML
for org in "${orgs[@]}"; do
  kc "$org" apply --validate=false -f "$work/pod.yaml" > /dev/null
  echo "$org: $(kc "$org" get pod payments-api-0 -n payments -o jsonpath='{.status.phase} {.metadata.uid}')"
done

step "6. Each organisation registers its cluster, workload and an API key (same names, separate organisations)"
for org in "${orgs[@]}"; do
  "$astis" cluster add --store "$db" --org "$org" --name prod --issuer "$(cat "$work/kube-$org/issuer")" \
    --audience astis --jwks-file "$work/kube-$org/jwks.json" --api-url "$(cat "$work/kube-$org/url")" \
    --ca-file "$work/kube-$org/ca.crt" --token-file "$work/kube-$org/read.token" --mode strict
  "$astis" workload add --store "$db" --org "$org" --cluster prod --namespace payments --service-account api \
    --image "$app_digest"
  "$astis" apikey create --store "$db" --org "$org" --cluster prod --namespace payments --service-account api \
    --expires-in 1d > "$work/api-$org.key" 2> /dev/null
  chmod 0400 "$work/api-$org.key"
done
echo "API keys created (printed once; the store keeps only their hashes)"

step "7. astis serve: one edge for both organisations; ASTIS's embedded CVS holds acme's key only"
port=$(free_port)
openssl_quiet req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 1 \
  -subj "/CN=astis-demo-edge" -addext "subjectAltName=IP:127.0.0.1,DNS:localhost" \
  -keyout "$work/edge.key" -out "$work/edge.crt"
cat > "$work/edge.yaml" <<YAML
listen:
  address: 127.0.0.1
  port: $port
tls:
  cert_file: $work/edge.crt
  key_file: $work/edge.key
external_base_url: https://127.0.0.1:$port
store:
  backend: sqlite
  path: $db
cvs:
  mode: embedded
  org_keys_dir: $work/cvs-keys
hyok:
  client_cert_file: $pki/edge-hyok.crt
  client_key_file: $pki/edge-hyok.key
audit_log: $work/audit.log
YAML
"$astis" serve --config "$work/edge.yaml" 2> "$work/edge.log" &
pids+=($!)
wait_log "$work/edge.log" "serving on"
grep "serving on" "$work/edge.log"

step "8. Inside each pod: projected token (bound to the pod), mounted sealed Secret, the SDK"
for org in "${orgs[@]}"; do
  mkdir -p "$work/pod-$org/secrets"
  kc "$org" create token api -n payments --bound-object-kind Pod --bound-object-name payments-api-0 \
    --audience astis --duration 10m > "$work/pod-$org/token"
  kc "$org" get secret db-creds -n payments -o jsonpath='{.data.password}' | base64 -d \
    > "$work/pod-$org/secrets/password"
done
# pod_env ORG: the SDK's settings inside ORG's pod.
pod_env() {
  echo ASTIS_EDGE_URL="https://127.0.0.1:$port" ASTIS_CA_FILE="$work/edge.crt" \
    ASTIS_API_KEY_FILE="$work/api-$1.key" ASTIS_TOKEN_PATH="$work/pod-$1/token" \
    ASTIS_SECRETS_DIR="$work/pod-$1/secrets" ASTIS_PIN_WAIT_SECONDS=0
}
for org in "${orgs[@]}"; do
  out=$(env $(pod_env "$org") "$astis_run" --env DB_PASSWORD=password -- sh -c 'echo "$DB_PASSWORD"')
  [[ $out == "${secret_value[$org]}" ]] || fail "$org's pod did not get its value"
  echo "$org's pod read DB_PASSWORD: $out   (via $( [[ $org == acme ]] && echo "ASTIS's CVS, Tier 1" || echo "globex's own CVS, Tier 2"))"
done

step "9. A capsule sealed for acme, copied into globex's approved pod: refused"
cp "$work/pod-acme/secrets/password" "$work/pod-globex/secrets/stolen"
if env $(pod_env globex) "$astis_run" --env X=stolen -- sh -c 'echo "LEAK: $X"' \
    > "$work/cross.out" 2> "$work/cross.err"; then
  fail "globex's pod opened acme's capsule: $(cat "$work/cross.out")"
fi
echo "refused: $(tail -1 "$work/cross.err")"

step "10. globex's CVS goes down: only globex's pods are refused (cvs_unavailable); acme is untouched"
kill -TERM "$globex_cvs_pid"
wait "$globex_cvs_pid" 2>/dev/null || true
if env $(pod_env globex) "$astis_run" --env X=password -- sh -c 'echo "LEAK: $X"' \
    > "$work/down.out" 2> "$work/down.err"; then
  fail "globex's pod got a value with its CVS down"
fi
grep -q cvs_unavailable "$work/down.err" || { cat "$work/down.err"; fail "expected cvs_unavailable"; }
echo "globex refused: $(tail -1 "$work/down.err")"
out=$(env $(pod_env acme) "$astis_run" --env DB_PASSWORD=password -- sh -c 'echo "$DB_PASSWORD"')
[[ $out == "${secret_value[acme]}" ]] || fail "acme's pod was affected by globex's CVS outage"
echo "acme still reads DB_PASSWORD: $out"

step "11. Someone injects a debug container into acme's pod (kubectl debug): the next unwrap is refused"
kc acme debug -n payments pod/payments-api-0 --image="registry.example/tools/busybox@$dbg_digest" \
  --target=app --container=debugger --profile=general > /dev/null
if env $(pod_env acme) "$astis_run" --env X=password -- sh -c 'echo "LEAK: $X"' \
    > "$work/after.out" 2> "$work/after.err"; then
  cat "$work/after.out"; fail "the pod still got the value after the debug container appeared"
fi
grep -q LEAK "$work/after.out" && fail "the command ran"
echo "refused: $(tail -1 "$work/after.err")"
grep -q image_not_allowed "$work/after.err" || fail "expected image_not_allowed"

step "12. Audit: one hash-chained trail per organisation, each verified on its own"
for org in "${orgs[@]}"; do
  printf '%s: ' "$org"
  "$astis" audit verify "$work/audit.log" --org "$org"
done
grep -q '"org":"globex"' "$work/audit.log.orgs/acme.jsonl" && fail "acme's trail holds globex's lines"
grep -q '"org":"acme"' "$work/audit.log.orgs/globex.jsonl" && fail "globex's trail holds acme's lines"
echo "ok: neither organisation's trail holds a line of the other"
for f in "$work/audit.log" "$work"/audit.log.orgs/*.jsonl "$work/globex-cvs-audit.log" "$db" "$work/edge.log" \
         "$work/globex-cvs.log" "$work"/kube-*.log; do
  for org in "${orgs[@]}"; do
    grep -qF "${secret_value[$org]}" "$f" && fail "$org's plaintext found in $f"
  done
done
grep -q '"d"' "$db" && fail "an org private key is in the store"
echo "ok: no plaintext in any audit trail, the store or a log; no org key in the store"

# ASTIS_DEMO_KEEP_STORE=FILE keeps a consistent copy of the store the demo
# wrote (how testdata/stores/ fixtures of a release's schema are made).
if [[ -n ${ASTIS_DEMO_KEEP_STORE:-} ]]; then
  python3 -c 'import sqlite3, sys; d = sqlite3.connect(sys.argv[2]); sqlite3.connect(sys.argv[1]).backup(d); d.close()' \
    "$db" "$ASTIS_DEMO_KEEP_STORE"
fi
elapsed=$(python3 -c "import time; print(f'{time.time() - $start:.1f}')")
echo
echo "demo: two organisations, two tiers, one edge: each pod got only its own organisation's secret;"
echo "      a cross-organisation capsule, a Tier 2 CVS outage and a debug container were refused (${elapsed}s)"
