#!/bin/sh
# Interoperability check: the built `astis` seals, an independent opener
# (open_sealed.mjs: docs/protocol.md + RFC 9180 on Node WebCrypto) opens, and the
# plaintexts must match. Covers v1 and v2 capsules (§3.1) under X25519 and P-256
# org keys (§1, §2).
# Usage: run_interop.sh ASTIS_BINARY NODE HPKE_X25519_VECTORS HPKE_P256_VECTORS CAPSULE_VECTORS
set -eu
[ $# -eq 5 ] || { echo "usage: $0 ASTIS NODE HPKE_X25519 HPKE_P256 CAPSULE_VECTORS" >&2; exit 1; }
ASTIS=$1
NODE=$2
VECTORS=$3
VECTORS_P256=$4
CAPSULE_VECTORS=$5
HERE=$(cd "$(dirname "$0")" && pwd)
OPEN="$HERE/open_sealed.mjs"
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT INT TERM

fail() { echo "interop: FAIL: $*" >&2; exit 1; }

# same_values PLAIN.json OPENED.json: the opener's {key: base64} map equals the
# data of the plaintext Secret.
same_values() {
  "$NODE" -e '
const fs = require("fs");
const want = JSON.parse(fs.readFileSync(process.argv[1], "utf8")).data;
const got = JSON.parse(fs.readFileSync(process.argv[2], "utf8"));
const keys = Object.keys(want).sort();
if (JSON.stringify(Object.keys(got).sort()) !== JSON.stringify(keys)) {
  console.error("key sets differ");
  process.exit(1);
}
for (const k of keys) if (want[k] !== got[k]) { console.error("value differs for " + k); process.exit(1); }
' "$1" "$2"
}

# capsule_shape SEALED.json KEY: "v=<v> scope=<cluster or clusters,joined> enc=<bytes>:<first byte hex>
# ann=<astis.io/cluster>", read from the sealed Secret without any key.
capsule_shape() {
  "$NODE" -e '
const fs = require("fs");
const s = JSON.parse(fs.readFileSync(process.argv[1], "utf8"));
const sealed = Buffer.from(s.data[process.argv[2]], "base64").toString("latin1");
const c = JSON.parse(Buffer.from(sealed.split(".")[2], "base64url").toString("utf8"));
const enc = Buffer.from(c.enc, "base64url");
const scope = c.bind.clusters !== undefined ? c.bind.clusters.join(",") : c.bind.cluster;
const bindKeys = Object.keys(c.bind).filter((k) => k.startsWith("cluster")).sort().join("+");
console.log(`v=${c.v} ${bindKeys}=${scope} enc=${enc.length}:${enc.subarray(0, 1).toString("hex")} ` +
            `ann=${s.metadata.annotations["astis.io/cluster"]}`);
' "$1" "$2"
}

# refused_with CODE CMD...: CMD exits non-zero and says CODE on stderr.
refused_with() {
  code=$1
  shift
  if "$@" >"$TMP/out" 2>"$TMP/err"; then fail "accepted, expected $code: $*"; fi
  grep -q "$code" "$TMP/err" || fail "refused without $code: $* ($(cat "$TMP/err"))"
}

# 1. The opener's own HPKE is right (RFC 9180 vectors, both KEMs), and it opens,
#    scopes and refuses the protocol 1.1 capsule vectors.
"$NODE" "$OPEN" --selftest "$VECTORS" --selftest "$VECTORS_P256" --vectors "$CAPSULE_VECTORS" 2>"$TMP/vectors.log" ||
  { cat "$TMP/vectors.log" >&2; fail "opener self-test or capsule vectors"; }
grep -v '^  ' "$TMP/vectors.log" >&2

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
same_values "$TMP/plain.json" "$TMP/opened.json" || fail "opened values differ from the originals"

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

# unseal_agrees SEALED.json ORG.jwk OPENED.json [--cluster C]: `astis unseal`
# gives the values the independent opener gave.
unseal_agrees() {
  sealed=$1
  key=$2
  opened=$3
  shift 3
  "$ASTIS" unseal --org-key "$key" -o json -f "$sealed" "$@" >"$TMP/unsealed.json"
  "$NODE" -e '
const fs = require("fs");
const a = JSON.parse(fs.readFileSync(process.argv[1], "utf8")).data;
const b = JSON.parse(fs.readFileSync(process.argv[2], "utf8"));
for (const k of Object.keys(b)) if (a[k] !== b[k]) process.exit(1);
if (Object.keys(a).length !== Object.keys(b).length) process.exit(1);
' "$TMP/unsealed.json" "$opened"
}

# 7. And the C++ unseal agrees with the independent opener.
unseal_agrees "$TMP/sealed.json" "$TMP/keys/org-key.jwk" "$TMP/opened.json" ||
  fail "astis unseal and the independent opener disagree"

# 8. Protocol 1.1: for each org key suite, a value sealed for two clusters (v2,
#    docs/protocol.md §3.1) opens in each of them and nowhere else.
for suite in x25519 p256; do
  "$ASTIS" keygen --suite "$suite" --out "$TMP/keys-$suite" >/dev/null
done
for suite in x25519 p256; do
  K="$TMP/keys-$suite"
  case $suite in
    x25519) kty=OKP crv=X25519 want_enc='32:' other=p256 ;;
    p256) kty=EC crv=P-256 want_enc='65:04' other=x25519 ;;
  esac
  "$NODE" -e '
const fs = require("fs");
const [priv, pub] = process.argv.slice(1, 3).map((a) => JSON.parse(fs.readFileSync(a, "utf8")));
const [kty, crv] = process.argv.slice(3);
if (pub.kty !== kty || pub.crv !== crv || priv.kty !== kty || priv.crv !== crv) process.exit(1);
if (pub.d !== undefined || typeof priv.d !== "string" || pub.kid !== priv.kid) process.exit(1);
' "$K/org-key.jwk" "$K/org-key.pub.jwk" "$kty" "$crv" || fail "$suite: keygen wrote unexpected JWKs"

  # Clusters given out of order: the sealer sorts them.
  "$ASTIS" seal --public-key "$K/org-key.pub.jwk" --cluster prod-us1 --cluster prod-eu1 --namespace payments \
    --service-account api -o json -f "$TMP/plain.json" >"$TMP/v2-$suite.json"
  shape=$(capsule_shape "$TMP/v2-$suite.json" password)
  case $shape in
    "v=2 clusters=prod-eu1,prod-us1 enc=$want_enc"*" ann=prod-eu1,prod-us1") ;;
    *) fail "$suite: v2 capsule shape is '$shape'" ;;
  esac
  for c in prod-eu1 prod-us1; do
    "$NODE" "$OPEN" --secret "$TMP/v2-$suite.json" --org-key "$K/org-key.jwk" --cluster "$c" \
      >"$TMP/opened-$suite.json" || fail "$suite: the opener refused the v2 value in $c"
    same_values "$TMP/plain.json" "$TMP/opened-$suite.json" || fail "$suite: v2 values differ in $c"
    unseal_agrees "$TMP/v2-$suite.json" "$K/org-key.jwk" "$TMP/opened-$suite.json" --cluster "$c" ||
      fail "$suite: astis unseal --cluster $c and the independent opener disagree"
  done
  refused_with capsule_scope "$NODE" "$OPEN" --secret "$TMP/v2-$suite.json" --org-key "$K/org-key.jwk" --cluster staging
  refused_with capsule_scope "$ASTIS" unseal --org-key "$K/org-key.jwk" -f "$TMP/v2-$suite.json" --cluster staging
  # The other suite's org key does not name this capsule's kid.
  refused_with unknown_key "$NODE" "$OPEN" --secret "$TMP/v2-$suite.json" --org-key "$TMP/keys-$other/org-key.jwk"
  echo "interop: $suite v2 (prod-eu1,prod-us1) opened in both clusters, refused in staging" >&2
done

# 9. A P-256 value for one cluster is still a v1 capsule (§3.1) with a 65-byte
#    uncompressed enc (§2).
K="$TMP/keys-p256"
"$ASTIS" seal --public-key "$K/org-key.pub.jwk" --cluster prod-eu1 --namespace payments \
  --service-account api -o json -f "$TMP/plain.json" >"$TMP/v1-p256.json"
shape=$(capsule_shape "$TMP/v1-p256.json" password)
[ "$shape" = "v=1 cluster=prod-eu1 enc=65:04 ann=prod-eu1" ] || fail "p256: v1 capsule shape is '$shape'"
"$NODE" "$OPEN" --secret "$TMP/v1-p256.json" --org-key "$K/org-key.jwk" --cluster prod-eu1 >"$TMP/opened-v1-p256.json"
same_values "$TMP/plain.json" "$TMP/opened-v1-p256.json" || fail "p256: v1 values differ"
unseal_agrees "$TMP/v1-p256.json" "$K/org-key.jwk" "$TMP/opened-v1-p256.json" ||
  fail "p256: astis unseal and the independent opener disagree on v1"
refused_with capsule_scope "$NODE" "$OPEN" --secret "$TMP/v1-p256.json" --org-key "$K/org-key.jwk" --cluster prod-us1

echo "interop: ok"
