#!/bin/sh
# Interoperability check: the built `astis` seals, an independent opener
# (open_sealed.mjs: docs/protocol.md + RFC 9180 on Node WebCrypto) opens, and the
# plaintexts must match. Usage: run_interop.sh ASTIS_BINARY NODE HPKE_VECTORS
set -eu
ASTIS=$1
NODE=$2
VECTORS=$3
HERE=$(cd "$(dirname "$0")" && pwd)
OPEN="$HERE/open_sealed.mjs"
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT INT TERM

fail() { echo "interop: FAIL: $*" >&2; exit 1; }

# 1. The opener's own HPKE is right (RFC 9180 vectors).
"$NODE" "$OPEN" --selftest "$VECTORS"

# 2. keygen.
"$ASTIS" keygen --out "$TMP/keys" >/dev/null
mode=$(stat -c %a "$TMP/keys/org-key.jwk")
[ "$mode" = "600" ] || fail "org-key.jwk mode is $mode"

# 3. seal a Secret with text, empty, binary and non-ASCII values.
B_PASS=$(printf 'hunter2-interop' | base64 -w0)
B_UNI=$(printf 'p\303\244ssw\303\266rd \342\234\223' | base64 -w0)
B_BIN=$(head -c 48 /dev/urandom | base64 -w0)
cat >"$TMP/plain.json" <<JSON
{"apiVersion":"v1","kind":"Secret","metadata":{"name":"db-creds","namespace":"payments"},"type":"Opaque",
 "data":{"password":"$B_PASS","unicode":"$B_UNI","binary.bin":"$B_BIN","empty":""}}
JSON
"$ASTIS" seal --public-key "$TMP/keys/org-key.pub.jwk" --cluster prod-eu1 --namespace payments \
  --service-account api -o json -f "$TMP/plain.json" >"$TMP/sealed.json"
if grep -q "$B_PASS" "$TMP/sealed.json" || grep -q hunter2 "$TMP/sealed.json"; then
  fail "sealed output contains the plaintext"
fi

# 4. open independently and compare with the input data.
"$NODE" "$OPEN" --secret "$TMP/sealed.json" --org-key "$TMP/keys/org-key.jwk" >"$TMP/opened.json"
"$NODE" -e '
const fs = require("fs");
const want = JSON.parse(fs.readFileSync(process.argv[1], "utf8")).data;
const got = JSON.parse(fs.readFileSync(process.argv[2], "utf8"));
const keys = Object.keys(want).sort();
if (JSON.stringify(Object.keys(got).sort()) !== JSON.stringify(keys)) { console.error("key sets differ"); process.exit(1); }
for (const k of keys) if (want[k] !== got[k]) { console.error("value differs for " + k); process.exit(1); }
' "$TMP/plain.json" "$TMP/opened.json" || fail "opened values differ from the originals"

# 5. --from-literal path, opened independently.
"$ASTIS" seal --public-key "$TMP/keys/org-key.pub.jwk" --cluster prod-eu1 --namespace payments \
  --service-account api -o json --name api-token --from-literal token=s3cr3t-literal >"$TMP/lit.json"
got=$("$NODE" "$OPEN" --secret "$TMP/lit.json" --org-key "$TMP/keys/org-key.jwk")
[ "$got" = "{\"token\":\"$(printf 's3cr3t-literal' | base64 -w0)\"}" ] || fail "literal value differs: $got"

# 6. The independent opener also refuses a value moved to another Secret.
sed 's/"name": "db-creds"/"name": "other"/' "$TMP/sealed.json" >"$TMP/moved.json"
grep -q '"name": "other"' "$TMP/moved.json" || fail "could not rename the Secret for the negative check"
if "$NODE" "$OPEN" --secret "$TMP/moved.json" --org-key "$TMP/keys/org-key.jwk" >/dev/null 2>&1; then
  fail "opener accepted a value moved to another Secret"
fi

# 7. And the C++ unseal agrees with the independent opener.
"$ASTIS" unseal --org-key "$TMP/keys/org-key.jwk" -o json -f "$TMP/sealed.json" >"$TMP/unsealed.json"
"$NODE" -e '
const fs = require("fs");
const a = JSON.parse(fs.readFileSync(process.argv[1], "utf8")).data;
const b = JSON.parse(fs.readFileSync(process.argv[2], "utf8"));
for (const k of Object.keys(b)) if (a[k] !== b[k]) process.exit(1);
if (Object.keys(a).length !== Object.keys(b).length) process.exit(1);
' "$TMP/unsealed.json" "$TMP/opened.json" || fail "astis unseal and the independent opener disagree"

echo "interop: ok"
