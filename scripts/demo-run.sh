#!/usr/bin/env bash
# demo-run.sh BUILD_DIR — the demo itself, on an already built tree.
set -euo pipefail
build=${1:?usage: demo-run.sh BUILD_DIR}
astis="$build/src/cli/astis"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

step "1. SecOps generates the org key pair (private half stays with the CVS)"
"$astis" keygen --out "$work/keys"
ls -l "$work/keys"
cat "$work/keys/org-key.pub.jwk"; echo

step "2. A plain Kubernetes Secret, as a developer would write it"
cat > "$work/plain.yaml" <<'YAML'
apiVersion: v1
kind: Secret
metadata:
  name: db-creds
  namespace: payments
type: Opaque
stringData:
  username: payments-api
  password: correct horse battery staple
YAML
cat "$work/plain.yaml"

step "3. astis seal: offline, with the org PUBLIC key, bound to cluster/namespace/ServiceAccount"
"$astis" seal --public-key "$work/keys/org-key.pub.jwk" \
  --cluster prod-eu1 --namespace payments --service-account api \
  -f "$work/plain.yaml" > "$work/sealed.yaml"
cat "$work/sealed.yaml"

step "4. What 'kubectl get secret -o yaml', etcd or a backup would hold: no plaintext"
if grep -q "correct horse" "$work/sealed.yaml" ||
   grep -q "$(printf 'correct horse battery staple' | base64)" "$work/sealed.yaml"; then
  echo "FAIL: plaintext found in the sealed Secret" >&2; exit 1
fi
echo "ok: neither the plaintext nor its base64 appears in the sealed manifest"
echo "one value, decoded from base64 (astis.v1.<capsule>.<iv>.<ciphertext>):"
sed -n 's/^  password: //p' "$work/sealed.yaml" | base64 -d | cut -c1-120; echo "..."
echo "its capsule (the only part that ever leaves the cluster):"
sed -n 's/^  password: //p' "$work/sealed.yaml" | base64 -d | cut -d. -f3 |
  tr '_-' '/+' | awk '{ while (length($0) % 4) $0 = $0 "="; print }' | base64 -d; echo

step "5. A copy moved into another namespace is refused (the binding is authenticated)"
sed 's/namespace: payments/namespace: attacker/' "$work/sealed.yaml" > "$work/moved.yaml"
if "$astis" unseal --org-key "$work/keys/org-key.jwk" -f "$work/moved.yaml" > /dev/null 2> "$work/err"; then
  echo "FAIL: moved Secret was opened" >&2; exit 1
fi
echo "refused: $(cat "$work/err")"

step "6. Break-glass recovery with the org PRIVATE key (astis unseal) round-trips"
"$astis" unseal --org-key "$work/keys/org-key.jwk" -f "$work/sealed.yaml" > "$work/unsealed.yaml"
cat "$work/unsealed.yaml"
got=$(sed -n 's/^  password: //p' "$work/unsealed.yaml" | tr -d '"' | base64 -d)
[[ $got == "correct horse battery staple" ]] || { echo "FAIL: round trip mismatch" >&2; exit 1; }
echo
echo "demo: seal -> unseal round trip ok; no plaintext in the sealed Secret"
