#!/usr/bin/env bash
# inject_process_test.sh ASTIS — `astis inject` as a process (docs/inject.md):
# serves HTTPS on a loopback port 0, answers /healthz and /mutate (a patch,
# the uid echoed; 400 for a malformed review, and still serving after it),
# picks up a new certificate when its files change, stops on SIGTERM with
# exit 0, and refuses an incomplete configuration before serving.
set -euo pipefail
astis=$1
here=$(cd "$(dirname "$0")" && pwd)
review=$here/../../fuzz/corpus/admission_review/mutate-single-container.json
t=$(mktemp -d)
pid=
trap '[[ -n $pid ]] && kill "$pid" 2>/dev/null; rm -rf "$t"' EXIT
fail() { echo "FAIL: $*" >&2; [[ -f $t/log ]] && sed 's/^/  log: /' "$t/log" >&2; exit 1; }
cert() {  # cert NAME: a self-signed P-256 certificate for 127.0.0.1
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$t/$1.key" -out "$t/$1.crt" \
    -days 1 -subj "/CN=$1" -addext "subjectAltName=IP:127.0.0.1" 2>/dev/null
}
cert one
cert two
cp "$t/one.crt" "$t/tls.crt"
cp "$t/one.key" "$t/tls.key"
run_image=registry.example.com/astis/astis-run@sha256:$(printf '4%.0s' {1..64})

if "$astis" inject --cert "$t/tls.crt" --key "$t/tls.key" --namespace astis --edge-url https://edge 2>"$t/err"; then
  fail "started without --run-image"
fi
grep -q run_image "$t/err" || fail "the refusal does not name run_image: $(cat "$t/err")"

"$astis" inject --listen 127.0.0.1:0 --cert "$t/tls.crt" --key "$t/tls.key" --namespace astis \
  --run-image "$run_image" --edge-url https://edge.example.com 2>"$t/log" &
pid=$!
port=
for _ in $(seq 100); do
  port=$(sed -n 's/.*serving on 127\.0\.0\.1:\([0-9]*\).*/\1/p' "$t/log")
  [[ -n $port ]] && break
  sleep 0.1
done
[[ -n $port ]] || fail "no 'serving on' line"
url=https://127.0.0.1:$port
grep -q "workload images add --cluster C --namespace N --service-account SA --image sha256:4444" "$t/log" ||
  fail "no allowlist hint for the run image"
[[ $(curl -sS --cacert "$t/one.crt" "$url/healthz") == '{"status":"ok"}' ]] || fail "/healthz"
out=$(curl -sS --cacert "$t/one.crt" -H 'Content-Type: application/json' --data-binary @"$review" "$url/mutate")
grep -q '"uid":"705ab4f5-6393-11e8-b7cc-42010a800002"' <<<"$out" || fail "uid not echoed: $out"
grep -q '"patchType":"JSONPatch"' <<<"$out" || fail "no patch: $out"
code=$(curl -sS -o "$t/bad" -w '%{http_code}' --cacert "$t/one.crt" -H 'Content-Type: application/json' \
  --data-binary '{"kind":' "$url/mutate")
[[ $code == 400 ]] || fail "malformed review: HTTP $code"
out=$(curl -sS --cacert "$t/one.crt" -H 'Content-Type: application/json' --data-binary @"$review" "$url/mutate")
grep -q '"allowed":true' <<<"$out" || fail "not serving after a malformed review"
curl -sS --cacert "$t/one.crt" "$url/metrics" | grep -q '^astis_inject_errors_total 1$' || fail "errors counter"

# Certificate rotation: new files in place, served within a few polls.
cp "$t/two.key" "$t/tls.key.new" && cp "$t/two.crt" "$t/tls.crt.new"
mv "$t/tls.key.new" "$t/tls.key" && mv "$t/tls.crt.new" "$t/tls.crt"
rotated=
for _ in $(seq 100); do
  if curl -sS --cacert "$t/two.crt" "$url/healthz" >/dev/null 2>&1; then rotated=1; break; fi
  sleep 0.1
done
[[ -n $rotated ]] || fail "the new certificate was not served within 10 s"

kill -TERM "$pid"
rc=0
wait "$pid" || rc=$?
pid=
[[ $rc == 0 ]] || fail "exit $rc after SIGTERM"
grep -q 'SIGTERM received' "$t/log" || fail "no stop line"
echo "inject process: ok"
