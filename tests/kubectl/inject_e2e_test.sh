#!/usr/bin/env bash
# inject_e2e_test.sh BUILD_DIR — zero-code adoption end to end (docs/inject.md,
# docs/kube-standin.md "Admission"): an unchanged Deployment whose only ASTIS
# change is the astis.io/inject label and the astis.io/env annotation gets its
# secret in the environment.
#
# Processes, every connection real loopback TLS:
#   astis-kube-standin (the API server, mutating admission, the Deployment
#   controller) --HTTPS, caBundle, astis-inject.astis.svc--> astis inject
#   astis serve (the edge, embedded CVS, SQLite) --HTTPS + read token--> stand-in
#   kubectl (apply, patch, get, create token) --> stand-in
# Steps: register the cluster, workload (app and astis-run digests), API key;
# seal the value; `kubectl apply` the shipped MutatingWebhookConfiguration
# (deploy/components/inject), patch in its caBundle as docs/inject.md says,
# then the Deployment. The pod the controller creates must be mutated. Then
# this script plays the kubelet (kubelet_run below): every volume the pod
# mounts becomes a temporary directory holding what the kubelet would put
# there (the TokenRequest token bound to the pod, the API-key Secret, the
# sealed Secret's keys, the edge CA), the init container astis-install runs
# (`astis-run --install-to`), then the wired container's command, with the
# mount paths in its env and arguments rewritten to those directories. The
# original command `/bin/sh -c 'printf %s "$DB_PASSWORD" > app.out'` must
# write the plaintext, and the plaintext must be nowhere in the pod object,
# the Secret, the stand-in's API log, the edge's log or the webhook's log.
# Needs kubectl, openssl and python3; without kubectl it exits 77 (skipped).
set -euo pipefail
build=$(cd "${1:?usage: inject_e2e_test.sh BUILD_DIR}" && pwd)
src=$(cd "$(dirname "$0")/../.." && pwd)
astis="$build/src/cli/astis"
astis_run="$build/src/sdk/astis-run"
standin="$build/tools/kube-standin/astis-kube-standin"
for bin in "$astis" "$astis_run" "$standin"; do
  [[ -x $bin ]] || { echo "inject-e2e: $bin is not built" >&2; exit 1; }
done
command -v kubectl > /dev/null || { echo "*** inject-e2e: kubectl NOT FOUND: skipped ***" >&2; exit 77; }

work=$(mktemp -d)
pids=()
cleanup() {
  local rc=$?
  for pid in "${pids[@]}"; do kill -TERM "$pid" 2> /dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2> /dev/null || true; done
  if [[ $rc -ne 0 ]]; then
    for log in kube edge inject; do
      echo "---- $log.log (last lines)" >&2
      tail -15 "$work/$log.log" >&2 2> /dev/null || true
    done
  fi
  if [[ $rc -ne 0 && -n ${ASTIS_E2E_KEEP:-} ]]; then echo "inject-e2e: kept $work" >&2; else rm -rf "$work"; fi
  exit "$rc"
}
trap cleanup EXIT INT TERM
fail() { echo "inject-e2e: FAIL: $*" >&2; exit 1; }
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_for_line() {  # wait_for_line FILE PATTERN SECONDS
  local i
  for ((i = 0; i < $3 * 20; i++)); do grep -q "$2" "$1" 2> /dev/null && return 0; sleep 0.05; done
  fail "timed out waiting for '$2' in $1"
}

plaintext="pl41n-db-p4ssw0rd-$RANDOM$RANDOM"
app_digest="sha256:$(printf 'inject e2e app' | sha256sum | cut -d' ' -f1)"
run_digest="sha256:$(printf 'inject e2e astis-run' | sha256sum | cut -d' ' -f1)"
run_image="registry.example/astis/astis-run@$run_digest"

# ---- certificates: the edge's and the webhook's (for astis-inject.astis.svc)
selfsigned() {  # selfsigned NAME SAN
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 1 -subj "/CN=$1" \
    -addext "subjectAltName=$2" -keyout "$work/$1.key" -out "$work/$1.crt" 2> /dev/null
}
selfsigned edge "IP:127.0.0.1"
selfsigned inject "DNS:astis-inject.astis.svc"

# ---- astis inject (port 0), then the API server that resolves its Service
edge_port=$(free_port)
"$astis" inject --listen 127.0.0.1:0 --cert "$work/inject.crt" --key "$work/inject.key" --namespace astis \
  --run-image "$run_image" --edge-url "https://127.0.0.1:$edge_port" --edge-ca-configmap astis-edge-ca \
  2> "$work/inject.log" &
pids+=($!)
wait_for_line "$work/inject.log" "serving on" 10
inject_port=$(sed -n 's/.*serving on [0-9.]*:\([0-9]*\).*/\1/p' "$work/inject.log" | head -1)
[[ -n $inject_port ]] || fail "no port in the webhook's log"

"$standin" --dir "$work/kube" --port 0 --service "astis/astis-inject:443=127.0.0.1:$inject_port" \
  2> "$work/kube.log" &
pids+=($!)
for ((i = 0; i < 200; i++)); do [[ -s $work/kube/url ]] && break; sleep 0.05; done
[[ -s $work/kube/url ]] || fail "the stand-in did not start"
kc() { kubectl --kubeconfig "$work/kube/kubeconfig" --cache-dir "$work/kcache" "$@"; }

# ---- the edge's store: organisation, org key, cluster, workload, API key
db="$work/astis.db"
"$astis" org add --store "$db" --name acme --tier standard > /dev/null
mkdir -m 0700 "$work/cvs-keys"
"$astis" org key create --org acme --keys-dir "$work/cvs-keys" > "$work/org-key.pub.jwk" 2> /dev/null
"$astis" cluster add --store "$db" --org acme --name prod --issuer "$(cat "$work/kube/issuer")" --audience astis \
  --jwks-file "$work/kube/jwks.json" --api-url "$(cat "$work/kube/url")" --ca-file "$work/kube/ca.crt" \
  --token-file "$work/kube/read.token" --mode strict > /dev/null
# Gate 4 sees every container of the pod: the app and the injected astis-install.
"$astis" workload add --store "$db" --org acme --cluster prod --namespace payments --service-account api \
  --image "$app_digest" --image "$run_digest" > /dev/null
"$astis" apikey create --store "$db" --org acme --cluster prod --namespace payments --service-account api \
  --expires-in 1d > "$work/api.key" 2> /dev/null
cat > "$work/edge.yaml" <<YAML
listen: {address: 127.0.0.1, port: $edge_port}
tls: {cert_file: $work/edge.crt, key_file: $work/edge.key}
external_base_url: https://127.0.0.1:$edge_port
store: {backend: sqlite, path: $db}
cvs: {mode: embedded, org_keys_dir: $work/cvs-keys}
audit_log: $work/audit.log
YAML
"$astis" serve --config "$work/edge.yaml" 2> "$work/edge.log" &
pids+=($!)
wait_for_line "$work/edge.log" "serving on" 15

# ---- the cluster: namespace, ServiceAccount, sealed Secret, API-key Secret
kc apply --validate=false -f - > /dev/null <<YAML
apiVersion: v1
kind: Namespace
metadata: {name: payments}
---
apiVersion: v1
kind: ServiceAccount
metadata: {name: api, namespace: payments}
---
apiVersion: v1
kind: Secret
metadata: {name: api-astis-key, namespace: payments}
type: Opaque
stringData:
  api-key: "$(cat "$work/api.key")"
YAML
printf 'apiVersion: v1\nkind: Secret\nmetadata: {name: db, namespace: payments}\ntype: Opaque\n' > "$work/plain.yaml"
printf 'stringData:\n  password: "%s"\n' "$plaintext" >> "$work/plain.yaml"
"$astis" seal --public-key "$work/org-key.pub.jwk" --cluster prod --namespace payments --service-account api \
  -f "$work/plain.yaml" > "$work/sealed.yaml"
rm "$work/plain.yaml"
grep -qF "$plaintext" "$work/sealed.yaml" && fail "the sealed Secret holds the plaintext"
kc apply --validate=false -f "$work/sealed.yaml" > /dev/null

# ---- the shipped webhook registration, its caBundle patched in by hand
kc apply --validate=false -f "$src/deploy/components/inject/mutatingwebhook.yaml" > /dev/null
kc patch mutatingwebhookconfiguration astis-inject --type=json \
  -p '[{"op":"add","path":"/webhooks/0/clientConfig/caBundle","value":"'"$(base64 -w0 "$work/inject.crt")"'"}]' \
  > /dev/null

# ---- an unchanged Deployment: only the label and the annotation are ASTIS's
kc apply --validate=false -f - > "$work/apply.out" <<YAML
apiVersion: apps/v1
kind: Deployment
metadata: {name: ledger, namespace: payments}
spec:
  replicas: 1
  selector:
    matchLabels: {app: ledger}
  template:
    metadata:
      labels: {app: ledger, astis.io/inject: "true"}
      annotations: {astis.io/env: "DB_PASSWORD=db/password"}
    spec:
      serviceAccountName: api
      securityContext: {fsGroup: 1000}
      containers:
        - name: app
          image: registry.example/ledger@$app_digest
          command: ["/bin/sh", "-c", "printf %s \"\$DB_PASSWORD\" > app.out"]
YAML
grep -q "deployment.apps/ledger created" "$work/apply.out" || fail "kubectl apply: $(cat "$work/apply.out")"
pod=
for ((i = 0; i < 100; i++)); do
  pod=$(kc get pods -n payments -l app=ledger -o jsonpath='{.items[0].metadata.name}' 2> /dev/null || true)
  [[ -n $pod ]] && break
  sleep 0.05
done
[[ -n $pod ]] || fail "the Deployment made no pod: $(kc get deployment ledger -n payments -o json)"
kc get pod "$pod" -n payments -o json > "$work/pod.json"
grep -q "ADMIT inject.astis.io CREATE pods payments/ledger-" "$work/kube.log" || fail "no admission call logged"

# ---- the pod as mutated
python3 - "$work/pod.json" "$run_image" "registry.example/ledger@$app_digest" <<'PY' || exit 1
import json, sys
pod, run_image, app_image = json.load(open(sys.argv[1])), sys.argv[2], sys.argv[3]
def check(ok, what):
    if not ok:
        sys.exit("inject-e2e: FAIL: " + what)
spec = pod["spec"]
check(pod["metadata"]["annotations"].get("astis.io/injected") == "true", "no astis.io/injected annotation")
check(spec["initContainers"][0]["name"] == "astis-install", "no astis-install init container")
check(spec["initContainers"][0]["image"] == run_image, "astis-install runs another image")
app = spec["containers"][0]
check(app["command"][0] == "/astis/bin/astis-run", "the command is not astis-run: %r" % app["command"])
check(app["command"][-4:] == ["--", "/bin/sh", "-c", 'printf %s "$DB_PASSWORD" > app.out'],
      "the original command is not kept: %r" % app["command"])
check("DB_PASSWORD" not in [e["name"] for e in app.get("env", [])], "DB_PASSWORD is in the spec")
check(app["image"] == app_image, "the app image was changed")
PY

# ---- the kubelet: volumes as directories, the init container, the container
token=$(kc create token api -n payments --bound-object-kind Pod --bound-object-name "$pod" --audience astis \
  --duration 10m)
kc get secret db -n payments -o json > "$work/secret-db.json"
kc get secret api-astis-key -n payments -o json > "$work/secret-api-key.json"
mkdir -m 0700 "$work/node" "$work/cwd"
printf '%s' "$token" > "$work/token"
python3 - "$work" "$astis_run" <<'PY' || fail "the wired container did not run"
import base64, json, os, subprocess, sys
work, astis_run = sys.argv[1], sys.argv[2]
pod = json.load(open(work + "/pod.json"))
secrets = {}
for f in ("secret-db.json", "secret-api-key.json"):
    s = json.load(open(os.path.join(work, f)))
    secrets[s["metadata"]["name"]] = {k: base64.b64decode(v) for k, v in s.get("data", {}).items()}
token = open(work + "/token", "rb").read()
edge_ca = open(work + "/edge.crt", "rb").read()
volumes = {v["name"]: v for v in pod["spec"]["volumes"]}

def write(path, data):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        f.write(data)
    os.chmod(path, 0o400)

def materialise(name):
    """The directory the kubelet would mount for volume name."""
    d = os.path.join(work, "node", name)
    if os.path.isdir(d):
        return d
    os.makedirs(d)
    v = volumes[name]
    if "secret" in v:
        data = secrets[v["secret"]["secretName"]]
        items = v["secret"].get("items") or [{"key": k, "path": k} for k in data]
        for it in items:
            write(os.path.join(d, it["path"]), data[it["key"]])
    elif "projected" in v:
        for src in v["projected"]["sources"]:
            if "serviceAccountToken" in src:
                sat = src["serviceAccountToken"]
                assert sat.get("audience") == "astis", sat
                write(os.path.join(d, sat["path"]), token)
            elif "secret" in src:
                data = secrets[src["secret"]["name"]]
                for it in src["secret"].get("items") or [{"key": k, "path": k} for k in data]:
                    write(os.path.join(d, it["path"]), data[it["key"]])
            else:
                sys.exit("unexpected projected source %r" % src)
    elif "configMap" in v:
        # The stand-in serves no ConfigMaps: the edge CA the operator put in
        # ConfigMap astis-edge-ca (key ca.crt).
        assert v["configMap"]["name"] == "astis-edge-ca", v
        items = v["configMap"].get("items") or [{"key": "ca.crt", "path": "ca.crt"}]
        for it in items:
            write(os.path.join(d, it["path"]), edge_ca)
    elif "emptyDir" not in v:
        sys.exit("unexpected volume %r" % v)
    return d

def run(container, extra_env):
    mounts = {m["mountPath"]: materialise(m["name"]) for m in container.get("volumeMounts", [])}
    def remap(s):
        for mp in sorted(mounts, key=len, reverse=True):
            if s == mp or s.startswith(mp + "/"):
                return mounts[mp] + s[len(mp):]
        return s
    env = {"PATH": os.environ["PATH"], **extra_env}
    for e in container.get("env", []):
        env[e["name"]] = remap(e["value"])
    argv = [remap(a) for a in container["command"]] + container.get("args", [])
    if argv[0] == "/usr/bin/astis-run":  # the astis-run image's binary
        argv[0] = astis_run
    return subprocess.run(argv, env=env, cwd=work + "/cwd", timeout=60).returncode

init = pod["spec"]["initContainers"][0]
rc = run(init, {})
if rc != 0:
    sys.exit("astis-install exited %d" % rc)
app = pod["spec"]["containers"][0]
rc = run(app, {"ASTIS_PIN_WAIT_SECONDS": "0"})
if rc != 0:
    sys.exit("the container exited %d" % rc)
PY
[[ -f $work/cwd/app.out ]] || fail "the application wrote nothing"
[[ $(cat "$work/cwd/app.out") == "$plaintext" ]] || fail "the application got another value"

# ---- the plaintext is nowhere but in the application's output
kc get pod "$pod" -n payments -o json > "$work/pod-after.json"
kc get secret db -n payments -o json > "$work/secret-after.json"
kc get deployment ledger -n payments -o json > "$work/deployment-after.json"
for f in pod.json pod-after.json secret-after.json deployment-after.json kube.log edge.log inject.log audit.log; do
  if grep -qF "$plaintext" "$work/$f"; then fail "the plaintext is in $f"; fi
done
if grep -q "POST /api/v1/namespaces/payments/pods" "$work/kube.log"; then
  fail "a pod was posted: the Deployment's pods are the controller's"
fi

# ---- a refusal reaches kubectl, and a Deployment's status
cat > "$work/nocmd.yaml" <<YAML
apiVersion: v1
kind: Pod
metadata:
  name: nocmd
  namespace: payments
  labels: {app: nocmd, astis.io/inject: "true"}
  annotations: {astis.io/env: "DB_PASSWORD=db/password"}
spec:
  serviceAccountName: api
  containers: [{name: app, image: "registry.example/ledger@$app_digest"}]
YAML
if kc create --validate=false -f "$work/nocmd.yaml" > /dev/null 2> "$work/nocmd.err"; then
  fail "a pod without command was admitted"
fi
grep -q 'admission webhook "inject.astis.io" denied the request: ' "$work/nocmd.err" ||
  fail "kubectl did not show the webhook's refusal: $(cat "$work/nocmd.err")"
kc get pod nocmd -n payments > /dev/null 2>&1 && fail "the refused pod exists"
grep -q "ADMIT inject.astis.io CREATE pods payments/nocmd denied" "$work/kube.log" ||
  fail "the refusal is not in the API log"
echo "inject-e2e: OK: pod $pod was mutated by astis inject and its command got DB_PASSWORD from the edge"
