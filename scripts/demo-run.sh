#!/usr/bin/env bash
# demo-run.sh BUILD_DIR — the local end-to-end demo on an already built tree.
#
# Everything runs on loopback in a temporary directory: a Kubernetes API
# stand-in (tools/kube-standin, driven with the real kubectl), `astis serve`
# (edge + embedded CVS on SQLite), and `astis-run` playing the pod. On exit,
# every process started here is stopped and the directory removed.
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
start=$(date +%s.%N)

app_digest="sha256:$(printf 'payments-api v1.4.2' | sha256sum | cut -d' ' -f1)"
dbg_digest="sha256:$(printf 'busybox debug' | sha256sum | cut -d' ' -f1)"
secret_value="correct horse battery staple"

step "1. A Kubernetes API (the project's stand-in; the real kubectl talks to it)"
"$standin" --dir "$work/kube" --port 0 2> "$work/kube.log" &
pids+=($!)
wait_for "$work/kube/url" 10
export KUBECONFIG="$work/kube/kubeconfig"
echo "API at $(cat "$work/kube/url"), issuer $(cat "$work/kube/issuer")"
kubectl version -o json 2>/dev/null | sed -n 's/.*"gitVersion": *"\([^"]*\)".*/server gitVersion \1/p' | tail -1

step "2. SecOps: org key pair (the private half stays with the CVS)"
"$astis" keygen --out "$work/keys" > /dev/null
ls -l "$work/keys" | tail -n +2

step "3. SecOps seals a Secret offline, bound to cluster demo / namespace payments / ServiceAccount api"
cat > "$work/plain.yaml" <<YAML
apiVersion: v1
kind: Secret
metadata:
  name: db-creds
  namespace: payments
type: Opaque
stringData:
  password: $secret_value
YAML
"$astis" seal --public-key "$work/keys/org-key.pub.jwk" \
  --cluster demo --namespace payments --service-account api \
  -f "$work/plain.yaml" > "$work/sealed.yaml"
rm "$work/plain.yaml"
kubectl apply --validate=false -f "$work/sealed.yaml"

step "4. What 'kubectl get secret -o yaml' (and etcd, and any backup) holds: ciphertext only"
kubectl get secret db-creds -n payments -o yaml > "$work/got.yaml"
sed -n '/^data:/,/^kind:/p' "$work/got.yaml" | cut -c1-110
if grep -qF "$secret_value" "$work/got.yaml" ||
   grep -qF "$(printf '%s' "$secret_value" | base64)" "$work/got.yaml"; then
  fail "plaintext found in the Secret API read"
fi
echo "ok: neither the plaintext nor its base64 is in the Secret API read"

step "5. The workload's pod: image pinned by digest, ServiceAccount api"
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
kubectl apply --validate=false -f "$work/pod.yaml"
kubectl get pod payments-api-0 -n payments -o jsonpath='{.status.phase} {.status.containerStatuses[0].imageID}{"\n"}'

step "6. Platform team registers the cluster, the workload (its image allowlist) and an API key"
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 1 \
  -subj "/CN=astis-demo-edge" -addext "subjectAltName=IP:127.0.0.1,DNS:localhost" \
  -keyout "$work/edge.key" -out "$work/edge.crt" 2> /dev/null
db="$work/astis.db"
"$astis" cluster add --store "$db" --name demo --issuer "$(cat "$work/kube/issuer")" --audience astis \
  --jwks-file "$work/kube/jwks.json" --api-url "$(cat "$work/kube/url")" --ca-file "$work/kube/ca.crt" \
  --token-file "$work/kube/read.token" --mode strict
"$astis" workload add --store "$db" --cluster demo --namespace payments --service-account api --image "$app_digest"
"$astis" apikey create --store "$db" --cluster demo --namespace payments --service-account api \
  --expires-in 1d > "$work/api.key"
chmod 0400 "$work/api.key"
echo "API key created (printed once; the store keeps only its hash)"

step "7. astis serve: edge + embedded CVS on SQLite, strict mode"
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
  org_keys: $work/keys/org-key.jwk
audit_log: $work/audit.log
YAML
"$astis" serve --config "$work/edge.yaml" 2> "$work/edge.log" &
pids+=($!)
for ((i = 0; i < 200; i++)); do grep -q "serving on" "$work/edge.log" && break; sleep 0.05; done
grep -q "serving on" "$work/edge.log" || { cat "$work/edge.log" >&2; fail "edge did not start"; }
grep "serving on" "$work/edge.log"

step "8. Inside the pod: projected token (TokenRequest bound to the pod), mounted sealed Secret, SDK"
mkdir -p "$work/pod/secrets"
kubectl create token api -n payments --bound-object-kind Pod --bound-object-name payments-api-0 \
  --audience astis --duration 10m > "$work/pod/token"
kubectl get secret db-creds -n payments -o jsonpath='{.data.password}' | base64 -d > "$work/pod/secrets/password"
export ASTIS_EDGE_URL="https://127.0.0.1:$port" ASTIS_CA_FILE="$work/edge.crt" \
  ASTIS_API_KEY_FILE="$work/api.key" ASTIS_TOKEN_PATH="$work/pod/token" ASTIS_SECRETS_DIR="$work/pod/secrets"
out=$("$astis_run" --env DB_PASSWORD=password -- sh -c 'echo "the app read DB_PASSWORD: $DB_PASSWORD"')
echo "$out"
[[ $out == "the app read DB_PASSWORD: $secret_value" ]] || fail "the pod did not get the value"

step "9. Someone injects a debug container (kubectl debug) with an image not on the allowlist"
kubectl debug -n payments pod/payments-api-0 --image="registry.example/tools/busybox@$dbg_digest" \
  --target=app --container=debugger --profile=general > /dev/null
kubectl get pod payments-api-0 -n payments -o jsonpath='{range .status.ephemeralContainerStatuses[*]}{.name} {.imageID}{"\n"}{end}'

step "10. The next unwrap is refused, fail closed"
if "$astis_run" --env DB_PASSWORD=password -- sh -c 'echo "LEAK: $DB_PASSWORD"' > "$work/after.out" 2> "$work/after.err"; then
  cat "$work/after.out"; fail "the pod still got the value after the debug container appeared"
fi
grep -q LEAK "$work/after.out" && fail "the command ran"
echo "refused: $(tail -1 "$work/after.err")"
grep -q image_not_allowed "$work/after.err" || fail "expected image_not_allowed"

step "11. The audit log: one hash-chained line per decision, verified"
"$astis" audit verify "$work/audit.log"
grep -c . "$work/audit.log" | sed 's/^/audit lines: /'
for f in "$work/audit.log" "$db" "$work/edge.log" "$work/kube.log"; do
  grep -qF "$secret_value" "$f" && fail "plaintext found in $f"
done
echo "ok: the plaintext is in none of the audit log, the store, the edge log or the API log"

# ASTIS_DEMO_KEEP_STORE=FILE keeps a consistent copy of the store the demo
# wrote (how testdata/stores/ fixtures of a release's schema are made).
if [[ -n ${ASTIS_DEMO_KEEP_STORE:-} ]]; then
  python3 -c 'import sqlite3, sys; d = sqlite3.connect(sys.argv[2]); sqlite3.connect(sys.argv[1]).backup(d); d.close()' \
    "$db" "$ASTIS_DEMO_KEEP_STORE"
fi
elapsed=$(python3 -c "import time; print(f'{time.time() - $start:.1f}')")
echo
echo "demo: sealed -> stored as ciphertext -> released only to the live, approved pod -> refused after kubectl debug (${elapsed}s)"
