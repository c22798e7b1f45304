#!/usr/bin/env node
// Independent opener for ASTIS sealed values, written from docs/protocol.md (1.1:
// §1, §2, §3) and RFC 9180 only — it shares no code with the C++ project and uses
// no npm packages: HPKE base mode with DHKEM(X25519, HKDF-SHA256) or
// DHKEM(P-256, HKDF-SHA256), HKDF-SHA256 and AES-GCM is implemented here on
// Node 20 WebCrypto (X25519 / ECDH deriveBits, HMAC-SHA256, AES-GCM).
//
//   node open_sealed.mjs --secret SEALED.json --org-key ORG.jwk [--org-key ORG2.jwk] [--cluster C]
//       prints {"<data key>": "<base64 of plaintext>", ...} and exits 0, or
//       prints "open_sealed: <code>: <reason>" on stderr and exits 1.
//   node open_sealed.mjs --sealed 'astis.v1....' --org-key ORG.jwk [--cluster C]
//       opens one sealed value; prints {"bind":{...},"plaintext":"<base64>"}.
//   node open_sealed.mjs --selftest hpke-x25519-base.json [--selftest hpke-p256-base.json]
//       checks this HPKE code on the RFC 9180 test vectors (mode_base, KDF 1).
//   node open_sealed.mjs --vectors astis-capsule-vectors.json
//       opens every `valid` vector, checks its scope, refuses every `invalid`
//       one, and runs this file's own named negatives (NEGATIVES below).
//
// With --cluster C every value must be in scope for a session in cluster C
// (docs/protocol.md §3.1, §4.2), else the refusal is `capsule_scope`.
// Refusals carry the §4.2 codes: capsule_invalid, unknown_key, capsule_scope.

import { readFileSync } from 'node:fs';

const { subtle } = globalThis.crypto;
const te = new TextEncoder();

// A refusal: `code` is the §4.2 code; `stage` says whether it came from the
// checks made before any decryption ('validate') or from opening ('open').
class Refusal extends Error {
  constructor(code, stage, message) {
    super(`${code}: ${message}`);
    this.code = code;
    this.stage = stage;
  }
}
const invalid = (msg) => {
  throw new Refusal('capsule_invalid', 'validate', msg);
};
function fail(msg) {
  throw new Error(msg);
}

function concat(...parts) {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let off = 0;
  for (const p of parts) {
    out.set(p, off);
    off += p.length;
  }
  return out;
}

function i2osp(n, len) {
  const out = new Uint8Array(len);
  for (let i = len - 1; i >= 0 && n > 0; i--) {
    out[i] = n % 256;
    n = Math.floor(n / 256);
  }
  return out;
}

const equalBytes = (a, b) => a.length === b.length && a.every((x, i) => x === b[i]);
const hex = (s) => new Uint8Array(Buffer.from(s, 'hex'));
const b64u = (bytes) => Buffer.from(bytes).toString('base64url');

// docs/protocol.md "Words": b64u without padding; reject padding, whitespace,
// non-alphabet bytes and non-canonical encodings ("Readings": strict encodings).
function b64uDecode(s, what) {
  if (typeof s !== 'string' || !/^[A-Za-z0-9_-]*$/.test(s) || s.length % 4 === 1) invalid(`${what}: not b64u`);
  const b = Buffer.from(s, 'base64url');
  if (b.toString('base64url') !== s) invalid(`${what}: non-canonical b64u`);
  return new Uint8Array(b);
}

function b64Decode(s, what) {
  if (typeof s !== 'string' || !/^[A-Za-z0-9+/]*={0,2}$/.test(s) || s.length % 4 !== 0) fail(`${what}: not base64`);
  const b = Buffer.from(s, 'base64');
  if (b.toString('base64') !== s) fail(`${what}: non-canonical base64`);
  return new Uint8Array(b);
}

// docs/protocol.md "Words": JSON is UTF-8, parsed with a depth limit, and an
// object that names a member twice is an error. JSON.parse keeps the last of
// two members, so the capsule goes through this small strict parser instead.
function parseJsonStrict(text, maxDepth = 8) {
  const STRING = /"(?:[^"\\\u0000-\u001f]|\\["\\/bfnrt]|\\u[0-9a-fA-F]{4})*"/y;
  const NUMBER = /-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?/y;
  let i = 0;
  const ws = () => {
    while (i < text.length && ' \t\n\r'.includes(text[i])) i++;
  };
  const token = (re) => {
    re.lastIndex = i;
    const m = re.exec(text);
    if (!m) invalid(`JSON: bad token at ${i}`);
    i += m[0].length;
    return JSON.parse(m[0]);
  };
  const value = (depth) => {
    if (depth > maxDepth) invalid('JSON: nested too deep');
    ws();
    const c = text[i];
    if (c === '{') {
      i++;
      const obj = {};
      const seen = new Set();
      ws();
      if (text[i] === '}') return i++, obj;
      for (;;) {
        ws();
        const k = token(STRING);
        if (seen.has(k)) invalid(`JSON: member "${k}" named twice`);
        seen.add(k);
        ws();
        if (text[i++] !== ':') invalid('JSON: expected ":"');
        Object.defineProperty(obj, k, { value: value(depth + 1), enumerable: true, writable: true });
        ws();
        const d = text[i++];
        if (d === '}') return obj;
        if (d !== ',') invalid('JSON: expected "," or "}"');
      }
    }
    if (c === '[') {
      i++;
      const arr = [];
      ws();
      if (text[i] === ']') return i++, arr;
      for (;;) {
        arr.push(value(depth + 1));
        ws();
        const d = text[i++];
        if (d === ']') return arr;
        if (d !== ',') invalid('JSON: expected "," or "]"');
      }
    }
    if (c === '"') return token(STRING);
    for (const [lit, v] of [['true', true], ['false', false], ['null', null]]) {
      if (text.startsWith(lit, i)) return (i += lit.length), v;
    }
    return token(NUMBER);
  };
  const v = value(0);
  ws();
  if (i !== text.length) invalid('JSON: trailing data');
  return v;
}

// RFC 5869 HKDF-SHA256 on WebCrypto HMAC.
async function hmac(key, data) {
  const k = await subtle.importKey('raw', key, { name: 'HMAC', hash: 'SHA-256' }, false, ['sign']);
  return new Uint8Array(await subtle.sign('HMAC', k, data));
}
async function extract(salt, ikm) {
  // RFC 5869 §2.2: an absent salt is HashLen zero bytes.
  return hmac(salt.length ? salt : new Uint8Array(32), ikm);
}
async function expand(prk, info, len) {
  let t = new Uint8Array(0);
  let out = new Uint8Array(0);
  for (let i = 1; out.length < len; i++) {
    t = await hmac(prk, concat(t, info, new Uint8Array([i])));
    out = concat(out, t);
  }
  return out.slice(0, len);
}

// RFC 9180 §4: LabeledExtract / LabeledExpand.
const HPKE_V1 = te.encode('HPKE-v1');
const labeledExtract = (suite, salt, label, ikm) => extract(salt, concat(HPKE_V1, suite, te.encode(label), ikm));
const labeledExpand = (suite, prk, label, info, len) =>
  expand(prk, concat(i2osp(len, 2), HPKE_V1, suite, te.encode(label), info), len);
const EMPTY = new Uint8Array(0);

// PKCS #8 wrappers around a bare private scalar, so that WebCrypto derives the
// public half itself (used to check a JWK's d against its x / y).
const PKCS8_X25519 = hex('302e020100300506032b656e04220420');
const PKCS8_P256 = hex('3041020100301306072a8648ce3d020106082a8648ce3d030107042730250201010420');

// The two KEMs of docs/protocol.md §1 (RFC 9180 §7.1). `pk` is the serialised
// public key (SerializePublicKey), `dh` the DH shared value.
const KEMS = {
  X25519: {
    id: 0x0020,
    nenc: 32,
    alg: { name: 'X25519' },
    pkcs8: PKCS8_X25519,
    pkFromJwk: (j) => b64uDecode(j.x, 'jwk.x'),
    thumbprintInput: (j) => `{"crv":"X25519","kty":"OKP","x":"${j.x}"}`,
    checkEnc(enc) {
      // docs/protocol.md §2: X25519 enc is exactly 32 bytes.
      if (enc.length !== 32) invalid(`X25519 enc is ${enc.length} bytes, not 32`);
    },
    async dh(sk, pkBytes) {
      const pk = await subtle.importKey('raw', pkBytes, this.alg, false, []);
      const dh = new Uint8Array(await subtle.deriveBits({ name: 'X25519', public: pk }, sk, 256));
      if (dh.every((b) => b === 0)) throw new Refusal('capsule_invalid', 'open', 'all-zero X25519 output'); // §7.1.4
      return dh;
    },
  },
  'P-256': {
    id: 0x0010,
    nenc: 65,
    alg: { name: 'ECDH', namedCurve: 'P-256' },
    pkcs8: PKCS8_P256,
    pkFromJwk: (j) => concat(new Uint8Array([0x04]), b64uDecode(j.x, 'jwk.x'), b64uDecode(j.y, 'jwk.y')),
    thumbprintInput: (j) => `{"crv":"P-256","kty":"EC","x":"${j.x}","y":"${j.y}"}`,
    checkEnc(enc) {
      // docs/protocol.md §2 and RFC 9180 §7.1.1: the 65-byte uncompressed point
      // 0x04 || X || Y. WebCrypto's raw import also takes the compressed (0x02,
      // 0x03) and hybrid (0x06, 0x07) forms, so the form is checked here.
      if (enc.length !== 65) invalid(`P-256 enc is ${enc.length} bytes, not 65`);
      if (enc[0] !== 0x04) invalid(`P-256 enc starts with 0x${enc[0].toString(16)}, not 0x04 (uncompressed)`);
    },
    async importPublic(pkBytes) {
      // RFC 9180 §7.1.4: the point must be on the curve and not the identity;
      // WebCrypto refuses such a point on import (DataError).
      try {
        return await subtle.importKey('raw', pkBytes, this.alg, false, []);
      } catch {
        invalid('P-256 enc is not a point on the curve');
      }
    },
    async dh(sk, pkBytes) {
      const pk = await this.importPublic(pkBytes);
      // RFC 9180 §7.1.1 / §4.1: DH(skX, pkY) is the 32-byte x-coordinate.
      return new Uint8Array(await subtle.deriveBits({ name: 'ECDH', public: pk }, sk, 256));
    },
  },
};
KEMS.X25519.importPublic = async (pkBytes) => subtle.importKey('raw', pkBytes, { name: 'X25519' }, false, []);

// A private key from its bare scalar; returns the key and its serialised public key.
async function importPrivateScalar(kem, d) {
  if (d.length !== 32) fail('private scalar is not 32 bytes');
  const p8 = concat(kem.pkcs8, d);
  let sk;
  try {
    sk = await subtle.importKey('pkcs8', p8, kem.alg, true, ['deriveBits']);
  } catch {
    fail('private scalar is not a valid key');
  }
  const jwk = await subtle.exportKey('jwk', sk);
  return { sk, pk: kem.pkFromJwk(jwk) };
}

// RFC 9180 §7.1.3 DeriveKeyPair, the private scalar only (the vectors' ikmR, ikmE).
const P256_ORDER = BigInt('0xffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551');
async function deriveScalar(kem, ikm) {
  const suite = concat(te.encode('KEM'), i2osp(kem.id, 2));
  const dkpPrk = await labeledExtract(suite, EMPTY, 'dkp_prk', ikm);
  if (kem === KEMS.X25519) return labeledExpand(suite, dkpPrk, 'sk', EMPTY, 32);
  for (let counter = 0; counter < 256; counter++) {
    const bytes = await labeledExpand(suite, dkpPrk, 'candidate', i2osp(counter, 1), 32); // bitmask 0xff
    const sk = BigInt('0x' + Buffer.from(bytes).toString('hex'));
    if (sk !== 0n && sk < P256_ORDER) return bytes;
  }
  fail('DeriveKeyPairError');
}

const AEADS = { 1: { nk: 16 }, 2: { nk: 32 }, 3: { nk: 32 } }; // RFC 9180 §7.3; 3 is ChaCha20-Poly1305

function hpkeSuite(kemId, aeadId) {
  return concat(te.encode('HPKE'), i2osp(kemId, 2), i2osp(0x0001, 2), i2osp(aeadId, 2));
}

// RFC 9180 §4.1 ExtractAndExpand with kem_context = enc || pkRm.
async function extractAndExpand(kem, dh, kemContext) {
  const suite = concat(te.encode('KEM'), i2osp(kem.id, 2));
  const eaePrk = await labeledExtract(suite, EMPTY, 'eae_prk', dh);
  return labeledExpand(suite, eaePrk, 'shared_secret', kemContext, 32); // Nsecret = 32 for both KEMs
}

// RFC 9180 §5.1 KeySchedule, mode_base.
async function keySchedule(kem, aeadId, sharedSecret, info) {
  const suite = hpkeSuite(kem.id, aeadId);
  const pskIdHash = await labeledExtract(suite, EMPTY, 'psk_id_hash', EMPTY);
  const infoHash = await labeledExtract(suite, EMPTY, 'info_hash', info);
  const ksc = concat(new Uint8Array([0x00]), pskIdHash, infoHash);
  const secret = await labeledExtract(suite, sharedSecret, 'secret', EMPTY);
  const key = await labeledExpand(suite, secret, 'key', ksc, AEADS[aeadId].nk);
  const baseNonce = await labeledExpand(suite, secret, 'base_nonce', ksc, 12);
  const exporterSecret = await labeledExpand(suite, secret, 'exp', ksc, 32);
  const exportValue = (ctx, len) => labeledExpand(suite, exporterSecret, 'sec', ctx, len); // §5.3
  return { key, baseNonce, exporterSecret, sharedSecret, ksc, secret, exportValue };
}

// RFC 9180 §4.1 Decap + §5.1 SetupBaseR.
async function setupBaseR(kem, aeadId, enc, skR, pkRm, info) {
  kem.checkEnc(enc);
  const dh = await kem.dh(skR, enc);
  return keySchedule(kem, aeadId, await extractAndExpand(kem, dh, concat(enc, pkRm)), info);
}

// RFC 9180 §4.1 Encap with a given ephemeral key (the test vectors' skEm).
async function setupBaseSWithEphemeral(kem, aeadId, skE, pkEm, pkRm, info) {
  const dh = await kem.dh(skE, pkRm);
  return keySchedule(kem, aeadId, await extractAndExpand(kem, dh, concat(pkEm, pkRm)), info);
}

async function aesGcm(op, key, nonce, aad, data) {
  const k = await subtle.importKey('raw', key, { name: 'AES-GCM' }, false, [op]);
  try {
    const params = { name: 'AES-GCM', iv: nonce, additionalData: aad, tagLength: 128 };
    return new Uint8Array(await subtle[op](params, k, data));
  } catch {
    throw new Refusal('capsule_invalid', 'open', 'AES-GCM authentication failed');
  }
}
const aesGcmOpen = (key, nonce, aad, ct) => aesGcm('decrypt', key, nonce, aad, ct);

function nonceFor(baseNonce, seq) {
  const s = i2osp(seq, 12);
  return baseNonce.map((b, i) => b ^ s[i]);
}

// RFC 9180 Appendix A vectors: both KEMs, mode_base, HKDF-SHA256. Checks the
// key pairs (DeriveKeyPair from ikm, public from private), Decap and Encap
// (with skEm), the key schedule, every encryption in sequence both ways (open
// ct, seal pt) and every export. AES-GCM (AEAD 1, 2) only: WebCrypto has no
// ChaCha20-Poly1305, so AEAD 3 checks all but the encryptions.
async function selftest(path) {
  const vectors = JSON.parse(readFileSync(path, 'utf8'));
  const counts = { vectors: 0, encryptions: 0, exports: 0, skippedEncryptions: 0 };
  for (const v of vectors) {
    const kem = Object.values(KEMS).find((k) => k.id === v.kem_id);
    if (v.mode !== 0 || v.kdf_id !== 1 || !kem || !AEADS[v.aead_id]) continue;
    const where = `selftest ${path} kem ${v.kem_id} aead ${v.aead_id}`;
    const check = (got, want, what) => {
      if (!equalBytes(got, hex(want))) fail(`${where}: ${what}`);
    };
    if (v.ikmR !== undefined) check(await deriveScalar(kem, hex(v.ikmR)), v.skRm, 'DeriveKeyPair(ikmR)');
    if (v.ikmE !== undefined) check(await deriveScalar(kem, hex(v.ikmE)), v.skEm, 'DeriveKeyPair(ikmE)');
    const r = await importPrivateScalar(kem, hex(v.skRm));
    const e = await importPrivateScalar(kem, hex(v.skEm));
    check(r.pk, v.pkRm, 'pkRm from skRm');
    check(e.pk, v.pkEm, 'pkEm from skEm');
    check(hex(v.enc), v.pkEm, 'enc = pkEm');
    const ctx = await setupBaseR(kem, v.aead_id, hex(v.enc), r.sk, hex(v.pkRm), hex(v.info));
    const sctx = await setupBaseSWithEphemeral(kem, v.aead_id, e.sk, hex(v.pkEm), hex(v.pkRm), hex(v.info));
    check(ctx.sharedSecret, v.shared_secret, 'shared_secret (Decap)');
    check(sctx.sharedSecret, v.shared_secret, 'shared_secret (Encap)');
    check(ctx.ksc, v.key_schedule_context, 'key_schedule_context');
    check(ctx.secret, v.secret, 'secret');
    check(ctx.key, v.key, 'key');
    check(ctx.baseNonce, v.base_nonce, 'base_nonce');
    check(ctx.exporterSecret, v.exporter_secret, 'exporter_secret');
    for (let seq = 0; seq < v.encryptions.length; seq++) {
      const enc = v.encryptions[seq];
      const nonce = nonceFor(ctx.baseNonce, seq);
      if (enc.nonce !== undefined) check(nonce, enc.nonce, `nonce ${seq}`);
      if (v.aead_id === 3) {
        counts.skippedEncryptions++;
        continue;
      }
      check(await aesGcmOpen(ctx.key, nonce, hex(enc.aad), hex(enc.ct)), enc.pt, `open ${seq}`);
      check(await aesGcm('encrypt', sctx.key, nonce, hex(enc.aad), hex(enc.pt)), enc.ct, `seal ${seq}`);
      counts.encryptions++;
    }
    for (const x of v.exports ?? []) {
      check(await ctx.exportValue(hex(x.exporter_context), x.L), x.exported_value, 'export (recipient)');
      check(await sctx.exportValue(hex(x.exporter_context), x.L), x.exported_value, 'export (sender)');
      counts.exports++;
    }
    counts.vectors++;
  }
  if (counts.vectors === 0) fail(`selftest: no usable base-mode vector in ${path}`);
  console.error(
    `selftest ${path}: ${counts.vectors} RFC 9180 vector(s) ok, ${counts.encryptions} encryptions both ways, ` +
      `${counts.exports} exports` +
      (counts.skippedEncryptions ? `, ${counts.skippedEncryptions} ChaCha20 encryptions not run` : ''),
  );
}

// An org private key from its JWK (docs/protocol.md §2). A bad key file is an
// error of this tool's input, not a refusal of a capsule.
async function loadOrgKey(jwk) {
  try {
    return await loadOrgKeyOrRefuse(jwk);
  } catch (e) {
    fail(`org key: ${e.message}`);
  }
}
async function loadOrgKeyOrRefuse(jwk) {
  let kem;
  if (jwk.kty === 'OKP' && jwk.crv === 'X25519') kem = KEMS.X25519;
  else if (jwk.kty === 'EC' && jwk.crv === 'P-256') kem = KEMS['P-256'];
  else fail('neither an X25519 nor a P-256 JWK');
  if (typeof jwk.d !== 'string') fail('the JWK has no private part d');
  const pkRm = kem.pkFromJwk(jwk);
  if (pkRm.length !== kem.nenc) fail('coordinates are not 32 bytes');
  // The private scalar must belong to the published public key.
  const { sk, pk } = await importPrivateScalar(kem, b64uDecode(jwk.d, 'jwk.d'));
  if (!equalBytes(pk, pkRm)) fail('d does not match the public key');
  // §1, §2: KID is the RFC 7638 SHA-256 thumbprint of the required members.
  const kid = b64u(new Uint8Array(await subtle.digest('SHA-256', te.encode(kem.thumbprintInput(jwk)))));
  if (jwk.kid !== undefined && jwk.kid !== kid) fail(`kid ${jwk.kid} is not its thumbprint ${kid}`);
  return { kem, kid, sk, pkRm, crv: jwk.crv };
}

// docs/protocol.md §3.1 binding fields.
const LABEL = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;
// DNS-1123 subdomain as Kubernetes checks it: dot-separated parts of the
// label alphabet, 253 bytes in all (1.1: serviceAccount and name).
const SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const isSubdomain = (s) => typeof s === 'string' && s.length <= 253 && SUBDOMAIN.test(s);
const isObject = (o) => typeof o === 'object' && o !== null && !Array.isArray(o);
const members = (o) => Object.keys(o).sort().join();
const MAX_CLUSTERS = 16;

// §3.1: v1 binds one `cluster`, v2 a list `clusters` and never `cluster`.
function checkBinding(v, b) {
  if (!isObject(b)) invalid('bind is not an object');
  const scopeMember = v === 1 ? 'cluster' : 'clusters';
  const want = [scopeMember, 'namespace', 'serviceAccount', 'name', 'key'];
  if (members(b) !== [...want].sort().join()) invalid(`v${v} bind members are ${members(b)}, not ${want.sort()}`);
  for (const k of ['namespace', 'serviceAccount', 'name', 'key']) {
    if (typeof b[k] !== 'string') invalid(`bind.${k} is not a string`);
  }
  if (v === 1) {
    if (typeof b.cluster !== 'string' || !LABEL.test(b.cluster)) invalid('bind.cluster is not a DNS-1123 label');
  } else {
    const c = b.clusters;
    if (!Array.isArray(c)) invalid('bind.clusters is not an array');
    if (c.length < 1 || c.length > MAX_CLUSTERS) invalid(`bind.clusters has ${c.length} entries, not 1 to 16`);
    for (const x of c) {
      if (typeof x !== 'string' || !LABEL.test(x)) invalid('a bind.clusters entry is not a DNS-1123 label');
    }
    // Strictly ascending byte order (labels are ASCII, so string order is byte order).
    for (let i = 1; i < c.length; i++) {
      if (!(c[i - 1] < c[i])) invalid(`bind.clusters not strictly ascending at "${c[i - 1]}","${c[i]}"`);
    }
  }
  if (!LABEL.test(b.namespace)) invalid('bind.namespace is not a DNS-1123 label');
  if (!isSubdomain(b.serviceAccount)) invalid('bind.serviceAccount is not a DNS-1123 subdomain');
  if (!isSubdomain(b.name)) invalid('bind.name is not a DNS-1123 subdomain');
  if (!/^[-._a-zA-Z0-9]{1,253}$/.test(b.key)) invalid('bind.key');
}

const bindClusters = (b) => (b.clusters !== undefined ? b.clusters : [b.cluster]);

// Opens one sealed value (§3): validates everything first, then opens.
// `keys` maps kid -> org key; `cluster`, if given, is the session's cluster.
async function openSealed(sealed, keys, cluster) {
  if (typeof sealed !== 'string' || !sealed.startsWith('astis.v1.')) invalid('not an astis.v1. value');
  const parts = sealed.slice('astis.v1.'.length).split('.');
  if (parts.length !== 3) invalid('a sealed value has 5 dot-separated parts');
  const capsuleBytes = b64uDecode(parts[0], 'capsule');
  const iv = b64uDecode(parts[1], 'iv');
  const ct = b64uDecode(parts[2], 'ciphertext');
  if (iv.length !== 12 || ct.length < 16) invalid('iv/ciphertext size');
  // "Readings": a capsule is at most 4096 bytes.
  if (capsuleBytes.length > 4096) invalid('capsule over 4096 bytes');
  let text;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(capsuleBytes);
  } catch {
    invalid('capsule is not UTF-8');
  }
  const capsule = parseJsonStrict(text);
  if (!isObject(capsule)) invalid('capsule is not an object');
  // "Readings": exactly these members, in any order.
  if (members(capsule) !== 'bind,ct,enc,iat,kid,v') invalid(`capsule members are ${members(capsule)}`);
  const v = capsule.v;
  if (v !== 1 && v !== 2) invalid(`capsule version ${JSON.stringify(v)}`);
  if (!Number.isSafeInteger(capsule.iat) || capsule.iat < 0) invalid('capsule iat');
  if (typeof capsule.kid !== 'string') invalid('capsule kid');
  const enc = b64uDecode(capsule.enc, 'enc');
  const hpkeCt = b64uDecode(capsule.ct, 'ct');
  if (hpkeCt.length !== 48) invalid('capsule ct is not 48 bytes');
  const b = capsule.bind;
  checkBinding(v, b);

  // §4.2: the kid picks the org key, and with it the KEM and the enc form (§2).
  const key = keys.get(capsule.kid);
  if (!key) throw new Refusal('unknown_key', 'validate', `kid ${capsule.kid} names no org key`);
  key.kem.checkEnc(enc);
  await key.kem.importPublic(enc); // an off-curve point is refused here, before any DH

  // §3.1 / §4.2 scope.
  if (cluster !== undefined && !bindClusters(b).includes(cluster)) {
    throw new Refusal('capsule_scope', 'validate', `not in scope for cluster ${cluster}`);
  }

  // §3.1: DEK = HPKE OpenBase(skR, enc, info "astis capsule vN", aad BIND, ct).
  const scope = v === 1 ? b.cluster : b.clusters.join(',');
  const bind = te.encode(`astis/v${v}\n${scope}\n${b.namespace}\n${b.serviceAccount}\n${b.name}\n${b.key}`);
  const ctx = await setupBaseR(key.kem, 2, enc, key.sk, key.pkRm, te.encode(`astis capsule v${v}`));
  const dek = await aesGcmOpen(ctx.key, nonceFor(ctx.baseNonce, 0), bind, hpkeCt);
  if (dek.length !== 32) invalid('DEK is not 32 bytes');
  // §3.2: plaintext = AES-256-GCM-Open(DEK, iv, "astis value v1" || SHA256(capsule bytes)).
  const capsuleHash = new Uint8Array(await subtle.digest('SHA-256', capsuleBytes));
  const pt = await aesGcmOpen(dek, iv, concat(te.encode('astis value v1'), capsuleHash), ct);
  return { v, bind: b, kid: capsule.kid, plaintext: pt };
}

async function loadKeys(paths) {
  const keys = new Map();
  for (const p of paths) {
    const k = await loadOrgKey(JSON.parse(readFileSync(p, 'utf8')));
    keys.set(k.kid, k);
  }
  return keys;
}

async function openSecret(secretPath, keyPaths, cluster) {
  const secret = JSON.parse(readFileSync(secretPath, 'utf8'));
  const keys = await loadKeys(keyPaths);
  if (secret.kind !== 'Secret') fail('not a Secret');
  const meta = secret.metadata ?? {};
  const ann = meta.annotations ?? {};
  const out = {};
  for (const [key, value] of Object.entries(secret.data ?? {})) {
    const sealed = Buffer.from(b64Decode(value, `data[${key}]`)).toString('latin1');
    const r = await openSealed(sealed, keys, cluster);
    const b = r.bind;
    // The value must belong to this Secret (as `astis unseal` requires).
    if (b.namespace !== meta.namespace || b.name !== meta.name || b.key !== key) fail(`data[${key}]: binding mismatch`);
    if (ann['astis.io/cluster'] !== undefined && ann['astis.io/cluster'] !== bindClusters(b).join(',')) {
      fail(`data[${key}]: annotation astis.io/cluster differs from the binding`);
    }
    if (ann['astis.io/service-account'] !== undefined && ann['astis.io/service-account'] !== b.serviceAccount) {
      fail('serviceAccount mismatch');
    }
    out[key] = Buffer.from(r.plaintext).toString('base64');
  }
  const sorted = Object.fromEntries(Object.keys(out).sort().map((k) => [k, out[k]]));
  process.stdout.write(JSON.stringify(sorted) + '\n');
}

async function openOne(sealed, keyPaths, cluster) {
  const r = await openSealed(sealed, await loadKeys(keyPaths), cluster);
  const plaintext = Buffer.from(r.plaintext).toString('base64');
  process.stdout.write(JSON.stringify({ v: r.v, bind: r.bind, plaintext }) + '\n');
}

// Named negatives of this opener, derived from a valid vector of each suite by
// rewriting its capsule. Each must be refused by the checks made before any
// decryption (stage 'validate') with the given code; a refusal that only came
// from a failed AES-GCM tag would not count.
const PAD = 'a'.repeat(4100);
const A64 = 'a'.repeat(64);
const NEGATIVES = [
  ['capsule_duplicate_member', 'X25519', 'capsule_invalid', (t) => t.replace('{"v":', '{"v":1,"v":')],
  ['capsule_unknown_member', 'X25519', 'capsule_invalid', (t) => t.replace('{"v":', '{"x":0,"v":')],
  ['capsule_missing_iat', 'X25519', 'capsule_invalid', (t) => rewrite(t, (c) => delete c.iat)],
  ['capsule_version_3', 'X25519', 'capsule_invalid', (t) => rewrite(t, (c) => (c.v = 3))],
  ['capsule_version_string', 'X25519', 'capsule_invalid', (t) => rewrite(t, (c) => (c.v = String(c.v)))],
  ['capsule_trailing_data', 'X25519', 'capsule_invalid', (t) => `${t} {}`],
  ['capsule_over_4096_bytes', 'X25519', 'capsule_invalid', (t) => t.replace('{"v":', `{"p":"${PAD}","v":`)],
  ['bind_v2_clusters_not_array', 'X25519', 'capsule_invalid', (t) => rewrite(t, (c) => (c.bind.clusters = 'prod-eu1'))],
  ['bind_v2_clusters_non_string', 'X25519', 'capsule_invalid', (t) => rewrite(t, (c) => (c.bind.clusters = [1]))],
  ['bind_v2_neither_member', 'X25519', 'capsule_invalid', (t) => rewrite(t, (c) => delete c.bind.clusters)],
  ['bind_v2_label_too_long', 'X25519', 'capsule_invalid', (t) => rewrite(t, (c) => (c.bind.clusters = [A64]))],
  ['bind_v1_cluster_list_value', 'X25519', 'capsule_invalid', (t) => v1(t, (c) => (c.bind.cluster = ['prod-eu1']))],
  ['kid_unknown', 'X25519', 'unknown_key', (t) => rewrite(t, (c) => (c.kid = b64u(new Uint8Array(32))))],
  ['enc_b64u_padding', 'X25519', 'capsule_invalid', (t) => rewrite(t, (c) => (c.enc += '='))],
  ['x25519_enc_65_bytes', 'X25519', 'capsule_invalid', (t) => withEnc(t, hex('04' + '07'.repeat(64)))],
  ['x25519_enc_31_bytes', 'X25519', 'capsule_invalid', (t) => withEnc(t, new Uint8Array(31).fill(9))],
  ['p256_enc_identity', 'P-256', 'capsule_invalid', (t) => withEnc(t, new Uint8Array([0x00]))],
  ['p256_enc_compressed_0x03', 'P-256', 'capsule_invalid', (t) => withEnc(t, compressed(encOf(t)))],
  ['p256_enc_hybrid_0x06', 'P-256', 'capsule_invalid', (t) => withEnc(t, hybrid(encOf(t)))],
  ['p256_enc_64_bytes_no_prefix', 'P-256', 'capsule_invalid', (t) => withEnc(t, encOf(t).slice(1))],
  ['p256_enc_66_bytes', 'P-256', 'capsule_invalid', (t) => withEnc(t, concat(encOf(t), new Uint8Array(1)))],
  ['p256_enc_x_not_reduced', 'P-256', 'capsule_invalid', (t) => withEnc(t, xPlusP())],
  ['p256_enc_all_zero_point', 'P-256', 'capsule_invalid', (t) => withEnc(t, concat(hex('04'), new Uint8Array(64)))],
  ['p256_enc_off_curve', 'P-256', 'capsule_invalid', (t) => withEnc(t, flipLastBit(encOf(t)))],
];
const rewrite = (t, f) => {
  const c = JSON.parse(t);
  f(c);
  return JSON.stringify(c);
};
const v1 = (t, f) =>
  rewrite(t, (c) => {
    c.v = 1;
    c.bind = { cluster: 'prod-eu1', ...c.bind };
    delete c.bind.clusters;
    f(c);
  });
const encOf = (t) => new Uint8Array(Buffer.from(JSON.parse(t).enc, 'base64url'));
const withEnc = (t, enc) => rewrite(t, (c) => (c.enc = b64u(enc)));
const compressed = (e) => concat(new Uint8Array([0x02 | (e[64] & 1)]), e.slice(1, 33));
const hybrid = (e) => concat(new Uint8Array([0x06 | (e[64] & 1)]), e.slice(1));
const flipLastBit = (e) => e.map((x, i) => (i === 64 ? x ^ 1 : x));
// A point of the curve written with an unreduced coordinate: X + p for the
// first point with a small X (found here: p = 3 mod 4, so sqrt is a^((p+1)/4)).
const P256_P = BigInt('0xffffffff00000001000000000000000000000000ffffffffffffffffffffffff');
const P256_B = BigInt('0x5ac635d8aa3a93e7b3ebbd55769886bc651d06b0cc53b0f63bce3c3e27d2604b');
function modPow(a, e, m) {
  let r = 1n;
  for (a %= m; e > 0n; e >>= 1n, a = (a * a) % m) if (e & 1n) r = (r * a) % m;
  return r;
}
const be32 = (n) => hex(n.toString(16).padStart(64, '0'));
function pointWithSmallX() {
  for (let x = 0n; ; x++) {
    const rhs = (((x * x * x - 3n * x + P256_B) % P256_P) + P256_P) % P256_P;
    const y = modPow(rhs, (P256_P + 1n) / 4n, P256_P);
    if ((y * y) % P256_P === rhs) return { x, y };
  }
}
function xPlusP() {
  const { x, y } = pointWithSmallX();
  return concat(new Uint8Array([0x04]), be32(x + P256_P), be32(y));
}

function reseal(sealed, capsuleText) {
  const parts = sealed.split('.');
  return ['astis', 'v1', b64u(te.encode(capsuleText)), parts[3], parts[4]].join('.');
}

async function expectRefusal(sealed, keys, cluster, code, what) {
  try {
    await openSealed(sealed, keys, cluster);
  } catch (e) {
    if (!(e instanceof Refusal)) fail(`${what}: crashed instead of refusing: ${e.stack ?? e}`);
    if (e.code !== code) fail(`${what}: refused ${e.code} (${e.message}), expected ${code}`);
    if (e.stage !== 'validate') fail(`${what}: refused only when opening (${e.message}), not by validation`);
    return e;
  }
  fail(`${what}: opened, expected ${code}`);
}

// docs/protocol.md "Vectors": every valid vector opens to its plaintext, is in
// scope for its opensIn clusters and refused capsule_scope for refusedIn; every
// invalid vector is refused capsule_invalid before anything is decrypted.
async function runVectors(path) {
  const file = JSON.parse(readFileSync(path, 'utf8'));
  const keys = new Map();
  const byName = {};
  for (const [name, jwk] of Object.entries(file.orgKeys)) {
    const k = await loadOrgKey(jwk);
    const pub = file.orgPublicKeys?.[name];
    if (pub && (pub.kid !== k.kid || pub.x !== jwk.x || pub.y !== jwk.y || pub.d !== undefined)) {
      fail(`vectors: orgPublicKeys.${name} is not the public half of orgKeys.${name}`);
    }
    keys.set(k.kid, k);
    byName[name] = k;
  }
  const n = { opened: 0, inScope: 0, scopeRefused: 0, invalidRefused: 0, negatives: 0 };
  const sample = {};
  for (const v of file.valid) {
    const r = await openSealed(v.sealed, keys, undefined);
    if (Buffer.from(r.plaintext).toString('utf8') !== v.plaintext) fail(`valid "${v.name}": wrong plaintext`);
    if (r.kid !== byName[v.orgKey].kid) fail(`valid "${v.name}": not sealed to orgKeys.${v.orgKey}`);
    n.opened++;
    for (const c of v.opensIn) {
      const s = await openSealed(v.sealed, keys, c);
      if (!equalBytes(s.plaintext, r.plaintext)) fail(`valid "${v.name}" in ${c}: wrong plaintext`);
      n.inScope++;
    }
    for (const c of v.refusedIn) {
      await expectRefusal(v.sealed, keys, c, 'capsule_scope', `valid "${v.name}" in ${c}`);
      n.scopeRefused++;
    }
    if (r.v === 2 && !sample[v.orgKey]) sample[v.orgKey] = v.sealed;
  }
  for (const v of file.invalid) {
    const e = await expectRefusal(v.sealed, keys, undefined, 'capsule_invalid', `invalid "${v.name}"`);
    console.error(`  refused invalid "${v.name}": ${e.message}`);
    n.invalidRefused++;
  }
  for (const [name, suite, code, mutate] of NEGATIVES) {
    const base = sample[suite] ?? fail(`negative ${name}: no v2 ${suite} valid vector to start from`);
    const text = Buffer.from(base.split('.')[2], 'base64url').toString('utf8');
    const e = await expectRefusal(reseal(base, mutate(text)), keys, undefined, code, `negative ${name}`);
    console.error(`  negative ${name}: ${e.message}`);
    n.negatives++;
  }
  // Control for p256_enc_x_not_reduced: the same point with X reduced is accepted.
  const { x, y } = pointWithSmallX();
  await KEMS['P-256'].importPublic(concat(new Uint8Array([0x04]), be32(x), be32(y)));
  console.error(
    `vectors ${path}: ${n.opened}/${file.valid.length} valid opened (${n.inScope} in-scope opens, ` +
      `${n.scopeRefused} capsule_scope refusals), ${n.invalidRefused}/${file.invalid.length} invalid refused, ` +
      `${n.negatives} named negatives refused`,
  );
}

async function main(argv) {
  const opts = {};
  for (let i = 0; i < argv.length; i += 2) {
    const [name, value] = [argv[i], argv[i + 1]];
    if (!name.startsWith('--') || value === undefined) fail(`bad argument ${name}`);
    (opts[name.slice(2)] ??= []).push(value);
  }
  const one = (name) => {
    if ((opts[name]?.length ?? 0) > 1) fail(`--${name} given twice`);
    return opts[name]?.[0];
  };
  const cluster = one('cluster');
  if (cluster !== undefined && !LABEL.test(cluster)) fail('--cluster is not a DNS-1123 label');
  if (opts.selftest || opts.vectors) {
    for (const p of opts.selftest ?? []) await selftest(p);
    for (const p of opts.vectors ?? []) await runVectors(p);
    return;
  }
  if (opts['org-key'] && one('secret')) return openSecret(one('secret'), opts['org-key'], cluster);
  if (opts['org-key'] && one('sealed')) return openOne(one('sealed'), opts['org-key'], cluster);
  fail(
    'usage: open_sealed.mjs --secret SEALED.json --org-key ORG.jwk [--cluster C] | --sealed VALUE --org-key ORG.jwk ' +
      '[--cluster C] | --selftest HPKE_VECTORS.json ... | --vectors CAPSULE_VECTORS.json',
  );
}

main(process.argv.slice(2)).catch((e) => {
  console.error(`open_sealed: ${e.message}`);
  process.exit(1);
});
