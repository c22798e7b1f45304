#!/usr/bin/env node
// Independent opener for ASTIS sealed values, written from docs/protocol.md (§2,
// §3) and RFC 9180 only — it shares no code with the C++ project and uses no
// npm packages: HPKE base mode DHKEM(X25519, HKDF-SHA256) / HKDF-SHA256 /
// AES-256-GCM is implemented here on Node 20 WebCrypto (X25519 deriveBits,
// HMAC-SHA256, AES-GCM).
//
//   node open_sealed.mjs --secret SEALED.json --org-key ORG_PRIVATE.jwk
//       prints {"<data key>": "<base64 of plaintext>", ...} and exits 0, or
//       prints the reason on stderr and exits 1.
//   node open_sealed.mjs --selftest hpke-x25519-base.json
//       checks this HPKE code on the RFC 9180 test vectors (mode 0, AEAD 2).

import { readFileSync } from 'node:fs';

const { subtle } = globalThis.crypto;
const te = new TextEncoder();

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

// docs/protocol.md "Words": b64u without padding; reject padding, whitespace,
// non-alphabet bytes and non-canonical encodings.
function b64uDecode(s, what) {
  if (typeof s !== 'string' || !/^[A-Za-z0-9_-]*$/.test(s) || s.length % 4 === 1) fail(`${what}: not b64u`);
  const b = Buffer.from(s, 'base64url');
  if (b.toString('base64url') !== s) fail(`${what}: non-canonical b64u`);
  return new Uint8Array(b);
}

function b64Decode(s, what) {
  if (typeof s !== 'string' || !/^[A-Za-z0-9+/]*={0,2}$/.test(s) || s.length % 4 !== 0) fail(`${what}: not base64`);
  const b = Buffer.from(s, 'base64');
  if (b.toString('base64') !== s) fail(`${what}: non-canonical base64`);
  return new Uint8Array(b);
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

const KEM_SUITE = concat(te.encode('KEM'), i2osp(0x0020, 2));
const EMPTY = new Uint8Array(0);

function hpkeSuite(aeadId) {
  return concat(te.encode('HPKE'), i2osp(0x0020, 2), i2osp(0x0001, 2), i2osp(aeadId, 2));
}

async function importX25519Private(d, x) {
  const jwk = { kty: 'OKP', crv: 'X25519', d: Buffer.from(d).toString('base64url'), x: Buffer.from(x).toString('base64url') };
  return subtle.importKey('jwk', jwk, { name: 'X25519' }, false, ['deriveBits']);
}

// RFC 9180 §4.1 DHKEM Decap + §5.1 KeySchedule (mode_base), returning the
// context {key, baseNonce, sharedSecret}.
async function setupBaseR(aeadId, enc, skR, pkRm, info) {
  if (enc.length !== 32) fail('enc is not 32 bytes');
  const pkE = await subtle.importKey('raw', enc, { name: 'X25519' }, false, []);
  const dh = new Uint8Array(await subtle.deriveBits({ name: 'X25519', public: pkE }, skR, 256));
  if (dh.every((b) => b === 0)) fail('all-zero DH output'); // RFC 9180 §7.1.4
  const kemContext = concat(enc, pkRm);
  const eaePrk = await labeledExtract(KEM_SUITE, EMPTY, 'eae_prk', dh);
  const sharedSecret = await labeledExpand(KEM_SUITE, eaePrk, 'shared_secret', kemContext, 32);
  const suite = hpkeSuite(aeadId);
  const pskIdHash = await labeledExtract(suite, EMPTY, 'psk_id_hash', EMPTY);
  const infoHash = await labeledExtract(suite, EMPTY, 'info_hash', info);
  const ksc = concat(new Uint8Array([0x00]), pskIdHash, infoHash);
  const secret = await labeledExtract(suite, sharedSecret, 'secret', EMPTY);
  const nk = aeadId === 1 ? 16 : 32;
  const key = await labeledExpand(suite, secret, 'key', ksc, nk);
  const baseNonce = await labeledExpand(suite, secret, 'base_nonce', ksc, 12);
  return { key, baseNonce, sharedSecret, ksc };
}

async function aesGcmOpen(key, nonce, aad, ct) {
  const k = await subtle.importKey('raw', key, { name: 'AES-GCM' }, false, ['decrypt']);
  try {
    return new Uint8Array(await subtle.decrypt({ name: 'AES-GCM', iv: nonce, additionalData: aad, tagLength: 128 }, k, ct));
  } catch {
    fail('AES-GCM authentication failed');
  }
}

function nonceFor(baseNonce, seq) {
  const s = i2osp(seq, 12);
  return baseNonce.map((b, i) => b ^ s[i]);
}

async function selftest(path) {
  const vectors = JSON.parse(readFileSync(path, 'utf8'));
  let checked = 0;
  for (const v of vectors) {
    if (v.mode !== 0 || v.kem_id !== 0x20 || v.kdf_id !== 1 || v.aead_id !== 2) continue;
    const skR = await importX25519Private(hex(v.skRm), hex(v.pkRm));
    const ctx = await setupBaseR(v.aead_id, hex(v.enc), skR, hex(v.pkRm), hex(v.info));
    if (!equalBytes(ctx.sharedSecret, hex(v.shared_secret))) fail('selftest: shared_secret');
    if (!equalBytes(ctx.ksc, hex(v.key_schedule_context))) fail('selftest: key_schedule_context');
    if (!equalBytes(ctx.key, hex(v.key))) fail('selftest: key');
    if (!equalBytes(ctx.baseNonce, hex(v.base_nonce))) fail('selftest: base_nonce');
    for (let seq = 0; seq < v.encryptions.length; seq++) {
      const e = v.encryptions[seq];
      const pt = await aesGcmOpen(ctx.key, nonceFor(ctx.baseNonce, seq), hex(e.aad), hex(e.ct));
      if (!equalBytes(pt, hex(e.pt))) fail(`selftest: encryption ${seq}`);
    }
    checked++;
  }
  if (checked === 0) fail('selftest: no X25519/HKDF-SHA256/AES-256-GCM base-mode vector found');
  console.error(`selftest: ${checked} RFC 9180 vector(s) ok`);
}

// docs/protocol.md §3.1 binding fields.
const LABEL = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;
// DNS-1123 subdomain as Kubernetes checks it: dot-separated parts of the
// label alphabet, 253 bytes in all (1.1: serviceAccount and name).
const SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const isSubdomain = (s) => s.length <= 253 && SUBDOMAIN.test(s);
function checkBinding(b) {
  const want = ['cluster', 'namespace', 'serviceAccount', 'name', 'key'];
  if (typeof b !== 'object' || b === null || Array.isArray(b)) fail('bind is not an object');
  if (Object.keys(b).sort().join() !== [...want].sort().join()) fail('bind members');
  for (const k of want) if (typeof b[k] !== 'string') fail(`bind.${k} is not a string`);
  if (!LABEL.test(b.cluster) || !LABEL.test(b.namespace)) fail('bind label');
  if (!isSubdomain(b.serviceAccount)) fail('bind.serviceAccount');
  if (!isSubdomain(b.name)) fail('bind.name');
  if (!/^[-._a-zA-Z0-9]{1,253}$/.test(b.key) || b.key === '.' || b.key === '..') fail('bind.key');
}

async function openSecret(secretPath, keyPath) {
  const secret = JSON.parse(readFileSync(secretPath, 'utf8'));
  const jwk = JSON.parse(readFileSync(keyPath, 'utf8'));
  if (jwk.kty !== 'OKP' || jwk.crv !== 'X25519' || typeof jwk.d !== 'string') fail('org key is not a private X25519 JWK');
  const x = b64uDecode(jwk.x, 'jwk.x');
  // docs/protocol.md §2: KID = RFC 7638 thumbprint of {"crv","kty","x"}.
  const canonical = `{"crv":"X25519","kty":"OKP","x":"${jwk.x}"}`;
  const kid = Buffer.from(await subtle.digest('SHA-256', te.encode(canonical))).toString('base64url');
  const skR = await importX25519Private(b64uDecode(jwk.d, 'jwk.d'), x);

  if (secret.kind !== 'Secret') fail('not a Secret');
  const meta = secret.metadata ?? {};
  const ann = meta.annotations ?? {};
  const out = {};
  for (const [key, value] of Object.entries(secret.data ?? {})) {
    const sealed = Buffer.from(b64Decode(value, `data[${key}]`)).toString('latin1');
    if (!sealed.startsWith('astis.v1.')) fail(`data[${key}]: not astis.v1`);
    const parts = sealed.slice('astis.v1.'.length).split('.');
    if (parts.length !== 3) fail(`data[${key}]: expected 5 parts`);
    const capsuleBytes = b64uDecode(parts[0], 'capsule');
    const iv = b64uDecode(parts[1], 'iv');
    const ct = b64uDecode(parts[2], 'ciphertext');
    if (iv.length !== 12 || ct.length < 16) fail(`data[${key}]: iv/ciphertext size`);

    const capsule = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(capsuleBytes));
    if (Object.keys(capsule).sort().join() !== 'bind,ct,enc,iat,kid,v') fail('capsule members');
    if (capsule.v !== 1 || !Number.isInteger(capsule.iat)) fail('capsule v / iat');
    if (capsule.kid !== kid) fail(`data[${key}]: unknown kid`);
    const enc = b64uDecode(capsule.enc, 'enc');
    const hpkeCt = b64uDecode(capsule.ct, 'ct');
    if (enc.length !== 32 || hpkeCt.length !== 48) fail('capsule enc/ct size');
    const b = capsule.bind;
    checkBinding(b);
    // The value must belong to this Secret (as `astis unseal` requires).
    if (b.namespace !== meta.namespace || b.name !== meta.name || b.key !== key) fail(`data[${key}]: binding mismatch`);
    if (ann['astis.io/cluster'] !== undefined && ann['astis.io/cluster'] !== b.cluster) fail('cluster mismatch');
    if (ann['astis.io/service-account'] !== undefined && ann['astis.io/service-account'] !== b.serviceAccount)
      fail('serviceAccount mismatch');

    // §3.1: DEK = HPKE OpenBase(skR, enc, info "astis capsule v1", aad BIND, ct).
    const bind = te.encode(`astis/v1\n${b.cluster}\n${b.namespace}\n${b.serviceAccount}\n${b.name}\n${b.key}`);
    const ctx = await setupBaseR(2, enc, skR, x, te.encode('astis capsule v1'));
    const dek = await aesGcmOpen(ctx.key, nonceFor(ctx.baseNonce, 0), bind, hpkeCt);
    if (dek.length !== 32) fail('DEK is not 32 bytes');
    // §3.2: plaintext = AES-256-GCM-Open(DEK, iv, "astis value v1" || SHA256(capsule bytes)).
    const capsuleHash = new Uint8Array(await subtle.digest('SHA-256', capsuleBytes));
    const pt = await aesGcmOpen(dek, iv, concat(te.encode('astis value v1'), capsuleHash), ct);
    out[key] = Buffer.from(pt).toString('base64');
  }
  const sorted = Object.fromEntries(Object.keys(out).sort().map((k) => [k, out[k]]));
  process.stdout.write(JSON.stringify(sorted) + '\n');
}

async function main(argv) {
  const arg = (name) => {
    const i = argv.indexOf(name);
    return i >= 0 ? argv[i + 1] : undefined;
  };
  if (arg('--selftest')) return selftest(arg('--selftest'));
  if (arg('--secret') && arg('--org-key')) return openSecret(arg('--secret'), arg('--org-key'));
  fail('usage: open_sealed.mjs --secret SEALED.json --org-key ORG.jwk | --selftest VECTORS.json');
}

main(process.argv.slice(2)).catch((e) => {
  console.error(`open_sealed: ${e.message}`);
  process.exit(1);
});
