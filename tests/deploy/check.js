#!/usr/bin/env node
// check.js — render one kustomize directory offline, validate every object
// against the Kubernetes (and Prometheus Operator) schemas, and check the
// security properties docs/deploy.md promises. Run by ctest
// (tests/deploy/CMakeLists.txt):
//
//   node check.js --dir DIR --profile PROFILE [--expect-fail RULE]
//
// Without --expect-fail it exits 0 only when every check passes. With
// --expect-fail RULE (the named negative tests, fed the broken copies in
// tests/deploy/broken/) it exits 0 only when the render FAILS and RULE is
// among the failures, so each negative test proves one specific refusal.
//
// Profiles say which properties a render must have:
//   tier1, tier1-monitoring  edge + CVS
//   tier2-edge               edge only, and no org key anywhere
//   tier2-customer-cvs       CVS only
//   cluster-rbac             the edge's read-only credential
//   workload                 the example workload and developer RBAC
//   tier1-inject             tier1 plus the astis inject webhook component
'use strict';

const { execFileSync } = require('node:child_process');
const path = require('node:path');

let yaml;
try {
  yaml = require('js-yaml');
  require('kubernetes-models/apps/v1/Deployment');
  require('@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1/ServiceMonitor');
} catch (e) {
  console.error(`FAIL: npm packages missing in ${__dirname}/node_modules (${e.code || e.message}).\n` +
                `Install them with: npm ci --prefix ${__dirname}`);
  process.exit(2);
}

const PROFILES = {
  'tier1': { edge: true, cvs: true },
  'tier1-monitoring': { edge: true, cvs: true, serviceMonitor: true },
  'tier2-edge': { edge: true, cvs: false, noOrgKey: true },
  'tier2-customer-cvs': { edge: false, cvs: true },
  'cluster-rbac': { readerRbac: true },
  'workload': { workload: true },
  'tier1-inject': { edge: true, cvs: true, inject: true },
};

function parseArgs(argv) {
  const a = {};
  for (let i = 0; i < argv.length; i += 2) {
    const k = argv[i], v = argv[i + 1];
    if (!['--dir', '--profile', '--expect-fail'].includes(k) || v === undefined) {
      throw new Error(`usage: check.js --dir DIR --profile (${Object.keys(PROFILES).join('|')}) [--expect-fail RULE]`);
    }
    a[k.slice(2)] = v;
  }
  if (!a.dir || !PROFILES[a.profile]) throw new Error(`need --dir and a known --profile, got ${JSON.stringify(a)}`);
  return a;
}

// ---- rendering and schema validation ----

function render(dir) {
  const out = execFileSync('kubectl', ['kustomize', dir], { encoding: 'utf8', maxBuffer: 64 << 20 });
  return yaml.loadAll(out).filter((o) => o !== null && o !== undefined);
}

function modelFor(apiVersion, kind) {
  if (!/^[A-Za-z]+$/.test(kind) || !/^([a-z0-9.-]+\/)?v[0-9a-z]+$/.test(apiVersion)) return null;
  const base = apiVersion.startsWith('monitoring.coreos.com/')
    ? `@kubernetes-models/prometheus-operator/${apiVersion}`
    : `kubernetes-models/${apiVersion}`;
  try {
    return require(`${base}/${kind}`)[kind];
  } catch {
    return null;
  }
}

// ---- helpers ----

const DIGEST_IMAGE = /@sha256:[0-9a-f]{64}$/;
const READ_VERBS = new Set(['get', 'list', 'watch']);
const FORBIDDEN_DEV_RESOURCES = ['pods/exec', 'pods/attach', 'pods/ephemeralcontainers', 'pods/portforward',
                                 'serviceaccounts/token', 'secrets', 'nodes/proxy'];

function id(o) { return `${o.kind}/${(o.metadata && o.metadata.namespace) ? o.metadata.namespace + '/' : ''}${o.metadata && o.metadata.name}`; }
function labelsMatch(selector, labels) {
  const m = (selector && selector.matchLabels) || {};
  return Object.keys(m).length > 0 && Object.entries(m).every(([k, v]) => (labels || {})[k] === v);
}
function allContainers(spec) {
  return [...(spec.initContainers || []), ...(spec.containers || []), ...(spec.ephemeralContainers || [])];
}

class Checker {
  constructor(objects, profile) {
    this.objects = objects;
    this.profile = profile;
    this.failures = [];  // {rule, msg}
  }
  fail(rule, msg) { this.failures.push({ rule, msg }); }
  ofKind(kind) { return this.objects.filter((o) => o.kind === kind); }

  run() {
    this.checkSchemas();
    for (const d of this.ofKind('Deployment')) this.checkPodTemplate(d);
    for (const sa of this.ofKind('ServiceAccount')) {
      if (sa.automountServiceAccountToken !== false) this.fail('NoAutomount', `${id(sa)}: automountServiceAccountToken must be false`);
    }
    for (const s of this.ofKind('Secret')) this.checkSecretObject(s);
    const p = this.profile;
    if (p.edge !== undefined) this.checkComponent('astis-edge', p.edge);
    if (p.cvs !== undefined) this.checkComponent('astis-cvs', p.cvs);
    if (p.edge) this.checkEdge();
    if (p.cvs) this.checkCvs();
    if (p.noOrgKey) this.checkNoOrgKey();
    if (p.serviceMonitor && this.ofKind('ServiceMonitor').length === 0) this.fail('ServiceMonitorPresent', 'no ServiceMonitor rendered');
    if (p.readerRbac) this.checkReaderRbac();
    if (p.workload) this.checkWorkload();
    if (p.inject) this.checkInject();
    return this.failures;
  }

  checkSchemas() {
    if (this.objects.length === 0) this.fail('Schema', 'render produced no objects');
    for (const o of this.objects) {
      const Model = modelFor(String(o.apiVersion), String(o.kind));
      if (!Model) { this.fail('Schema', `${id(o)}: no schema for ${o.apiVersion} ${o.kind}`); continue; }
      try {
        new Model(o).validate();
      } catch (e) {
        this.fail('Schema', `${id(o)}: ${e.message}`);
      }
    }
  }

  checkPodTemplate(d) {
    const name = id(d);
    const spec = d.spec.template.spec;
    const psc = spec.securityContext || {};
    if (spec.automountServiceAccountToken !== false) this.fail('NoAutomount', `${name}: pod automountServiceAccountToken must be false`);
    if (spec.hostNetwork || spec.hostPID || spec.hostIPC) this.fail('NoHostNamespaces', `${name}: host namespaces`);
    for (const v of spec.volumes || []) {
      if (v.hostPath) this.fail('NoHostNamespaces', `${name}: hostPath volume ${v.name}`);
      if (v.secret && (v.secret.defaultMode === undefined || (v.secret.defaultMode & 0o077) !== 0)) {
        this.fail('SecretFileMode', `${name}: secret volume ${v.name} needs defaultMode 0400`);
      }
    }
    for (const c of allContainers(spec)) {
      const cn = `${name} container ${c.name}`;
      const sc = c.securityContext || {};
      const runAsNonRoot = sc.runAsNonRoot ?? psc.runAsNonRoot;
      const runAsUser = sc.runAsUser ?? psc.runAsUser;
      if (runAsNonRoot !== true || runAsUser === 0) this.fail('NonRoot', `${cn}: must run as non-root`);
      if (d.metadata.name.startsWith('astis-') && runAsUser !== 65532) this.fail('NonRoot', `${cn}: ASTIS images run as 65532`);
      const seccomp = (sc.seccompProfile || psc.seccompProfile || {}).type;
      if (seccomp !== 'RuntimeDefault' && seccomp !== 'Localhost') this.fail('Seccomp', `${cn}: seccompProfile RuntimeDefault required`);
      if (sc.readOnlyRootFilesystem !== true) this.fail('ReadOnlyRootFilesystem', `${cn}: readOnlyRootFilesystem must be true`);
      if (sc.allowPrivilegeEscalation !== false) this.fail('NoPrivilegeEscalation', `${cn}: allowPrivilegeEscalation must be false`);
      if (sc.privileged === true) this.fail('NoPrivilegeEscalation', `${cn}: privileged`);
      const caps = sc.capabilities || {};
      if (!(caps.drop || []).includes('ALL') || (caps.add || []).length > 0) this.fail('DropAllCapabilities', `${cn}: capabilities must drop ALL and add none`);
      if (!DIGEST_IMAGE.test(c.image || '')) this.fail('ImageDigest', `${cn}: image ${c.image} is not pinned by digest`);
      const r = c.resources || {};
      for (const k of ['cpu', 'memory']) {
        if (!(r.requests && r.requests[k]) || !(r.limits && r.limits[k])) this.fail('Resources', `${cn}: ${k} request and limit required`);
      }
      this.checkProjectedTokenMounts(spec, c, cn);
    }
  }

  // Every projected ServiceAccount token is mounted read-only.
  checkProjectedTokenMounts(spec, c, cn) {
    for (const v of spec.volumes || []) {
      const hasToken = ((v.projected && v.projected.sources) || []).some((s) => s.serviceAccountToken);
      if (!hasToken) continue;
      for (const m of (c.volumeMounts || []).filter((x) => x.name === v.name)) {
        if (m.readOnly !== true) this.fail('TokenMountReadOnly', `${cn}: token volume ${v.name} must be mounted readOnly`);
      }
    }
  }

  checkSecretObject(s) {
    // Only the reader token Secret (filled by the token controller) and
    // sealed Secrets may appear in a render: never a plain secret value.
    if (s.type === 'kubernetes.io/service-account-token') {
      if (s.data || s.stringData) this.fail('NoPlainSecret', `${id(s)}: token Secret must be left to the token controller`);
      return;
    }
    const values = { ...(s.stringData || {}) };
    for (const [k, v] of Object.entries(s.data || {})) values[k] = Buffer.from(String(v), 'base64').toString('latin1');
    if (Object.keys(values).length === 0) this.fail('NoPlainSecret', `${id(s)}: empty Secret`);
    for (const [k, v] of Object.entries(values)) {
      if (!String(v).startsWith('astis.v1.')) this.fail('NoPlainSecret', `${id(s)}: key ${k} is not a sealed value`);
    }
  }

  deployment(name) { return this.ofKind('Deployment').find((d) => d.metadata.name === name); }

  checkComponent(name, wanted) {
    const present = !!this.deployment(name);
    if (present !== wanted) this.fail('Components', `${name} Deployment ${wanted ? 'missing' : 'must not be in this render'}`);
  }

  // A PodDisruptionBudget and a NetworkPolicy (Ingress and Egress) select the pods.
  checkAvailabilityAndPolicy(d, minReplicas) {
    const labels = d.spec.template.metadata.labels;
    const name = id(d);
    if (!(d.spec.replicas >= minReplicas)) this.fail('Replicas', `${name}: at least ${minReplicas} replicas`);
    const pdb = this.ofKind('PodDisruptionBudget').find((p) => labelsMatch(p.spec.selector, labels));
    if (!pdb) this.fail('PdbPresent', `${name}: no PodDisruptionBudget selects it`);
    else if (!(pdb.spec.minAvailable >= 1 || pdb.spec.maxUnavailable === 1)) this.fail('PdbPresent', `${id(pdb)}: minAvailable >= 1 or maxUnavailable 1`);
    const nps = this.ofKind('NetworkPolicy').filter((n) => labelsMatch(n.spec.podSelector, labels));
    const types = new Set(nps.flatMap((n) => n.spec.policyTypes || []));
    if (!types.has('Ingress') || !types.has('Egress')) this.fail('NetworkPolicyPresent', `${name}: NetworkPolicies must restrict Ingress and Egress`);
    const spread = (d.spec.template.spec.topologySpreadConstraints || []).length > 0 ||
                   !!(d.spec.template.spec.affinity && d.spec.template.spec.affinity.podAntiAffinity);
    if (!spread) this.fail('Spread', `${name}: topology spread or pod anti-affinity required`);
    return nps;
  }

  configMapFor(d, volumeName, file) {
    const v = (d.spec.template.spec.volumes || []).find((x) => x.name === volumeName && x.configMap);
    const cm = v && this.ofKind('ConfigMap').find((c) => c.metadata.name === v.configMap.name);
    if (!cm || !cm.data || !cm.data[file]) return null;
    return yaml.load(cm.data[file]);
  }

  // Every file the config names lies under a mount of the container.
  checkConfigPathsMounted(d, paths) {
    const c = d.spec.template.spec.containers[0];
    for (const p of paths.filter(Boolean)) {
      if (!(c.volumeMounts || []).some((m) => p.startsWith(m.mountPath.replace(/\/?$/, '/')))) {
        this.fail('ConfigPathsMounted', `${id(d)}: ${p} is not on any volume mount`);
      }
    }
  }

  checkEdge() {
    const d = this.deployment('astis-edge');
    if (!d) return;
    this.checkAvailabilityAndPolicy(d, 3);
    const c = d.spec.template.spec.containers[0];
    const probe = (p, path) => p && p.httpGet && p.httpGet.path === path && p.httpGet.scheme === 'HTTPS';
    if (!probe(c.readinessProbe, '/readyz')) this.fail('Probes', `${id(d)}: readiness probe must be HTTPS /readyz`);
    if (!probe(c.livenessProbe, '/healthz')) this.fail('Probes', `${id(d)}: liveness probe must be HTTPS /healthz`);
    const cfg = this.configMapFor(d, 'config', 'edge.yaml');
    if (!cfg) { this.fail('EdgeConfig', `${id(d)}: edge.yaml ConfigMap not found`); return; }
    if (!cfg.cvs || cfg.cvs.mode !== 'remote' || cfg.cvs.org_keys !== undefined) this.fail('EdgeConfig', 'edge must use a remote CVS and hold no org_keys');
    if (!cfg.store || cfg.store.backend !== 'postgres') this.fail('EdgeConfig', 'edge replicas need the shared postgres store');
    this.checkConfigPathsMounted(d, [cfg.tls && cfg.tls.cert_file, cfg.tls && cfg.tls.key_file, cfg.store && cfg.store.dsn_file,
      cfg.cvs && cfg.cvs.ca_file, cfg.cvs && cfg.cvs.client_cert_file, cfg.cvs && cfg.cvs.client_key_file, cfg.audit_log,
      cfg.admin && cfg.admin.unix_socket]);
  }

  checkCvs() {
    const d = this.deployment('astis-cvs');
    if (!d) return;
    const nps = this.checkAvailabilityAndPolicy(d, 2);
    for (const n of nps) {
      for (const rule of n.spec.ingress || []) {
        for (const from of rule.from || [{}]) {
          const fromEdge = from.podSelector && from.podSelector.matchLabels &&
                           from.podSelector.matchLabels['app.kubernetes.io/name'] === 'astis-edge' && !from.namespaceSelector;
          const fromBlock = from.ipBlock && from.ipBlock.cidr !== '0.0.0.0/0';
          if (!fromEdge && !fromBlock) this.fail('CvsIngressOnlyEdge', `${id(n)}: CVS ingress from something other than the edge`);
        }
      }
      if ((n.spec.egress || []).length > 0) this.fail('CvsIngressOnlyEdge', `${id(n)}: the CVS needs no egress`);
    }
    const cfg = this.configMapFor(d, 'config', 'cvs.yaml');
    if (!cfg) { this.fail('CvsConfig', `${id(d)}: cvs.yaml ConfigMap not found`); return; }
    if (!cfg.tls || !cfg.tls.client_ca_file || !(cfg.tls.edge_client_cert_sha256 || []).length) this.fail('CvsConfig', 'CVS must require pinned mTLS clients');
    this.checkConfigPathsMounted(d, [cfg.tls && cfg.tls.cert_file, cfg.tls && cfg.tls.key_file, cfg.tls && cfg.tls.client_ca_file,
      cfg.org_keys, cfg.audit_log]);
  }

  // Tier 2 edge: no object names an org key (Secret astis-org-keys, a
  // volume or mount, or org_keys in a config). YAML comments in ConfigMap
  // data are dropped first: they may explain that the key is elsewhere.
  checkNoOrgKey() {
    const stripComments = (t) => String(t).split('\n').filter((l) => !/^\s*#/.test(l)).join('\n');
    const text = this.objects.map((o) => JSON.stringify(o.kind !== 'ConfigMap' ? o
      : { ...o, data: Object.fromEntries(Object.entries(o.data || {}).map(([k, v]) => [k, stripComments(v)])) })).join('\n');
    if (/org[-_]keys?/i.test(text)) this.fail('NoOrgKey', 'an org key (astis-org-keys / org_keys) is referenced in a render that must not hold one');
  }

  checkReaderRbac() {
    const roles = [...this.ofKind('ClusterRole'), ...this.ofKind('Role')];
    if (roles.length === 0) this.fail('ReaderRbac', 'no reader role');
    for (const r of roles) {
      for (const rule of r.rules || []) {
        const ok = JSON.stringify(rule.apiGroups) === '[""]' && JSON.stringify(rule.resources) === '["pods"]' &&
                   rule.verbs.length > 0 && rule.verbs.every((v) => READ_VERBS.has(v)) && !rule.resourceNames && !rule.nonResourceURLs;
        if (!ok) this.fail('ReaderRbac', `${id(r)}: reader may only get/list/watch pods (${JSON.stringify(rule)})`);
      }
    }
    if (this.ofKind('ServiceAccount').length !== 1) this.fail('ReaderRbac', 'exactly one reader ServiceAccount');
    if ([...this.ofKind('RoleBinding'), ...this.ofKind('ClusterRoleBinding')].length === 0) this.fail('ReaderRbac', 'no binding');
  }

  // The astis inject webhook (docs/inject.md): fail closed, no side effects,
  // reinvocation-safe, v1 reviews, pod CREATE only, labelled pods only,
  // never its own namespace or kube-system, served by the astis-inject
  // Service, probes on the TLS port, PDB and NetworkPolicy.
  checkInject() {
    const d = this.deployment('astis-inject');
    if (!d) { this.fail('InjectWebhook', 'astis-inject Deployment missing'); return; }
    this.checkAvailabilityAndPolicy(d, 2);
    const c = d.spec.template.spec.containers[0];
    const probe = (p, path) => p && p.httpGet && p.httpGet.path === path && p.httpGet.scheme === 'HTTPS';
    if (!probe(c.readinessProbe, '/readyz') || !probe(c.livenessProbe, '/healthz')) this.fail('Probes', `${id(d)}: HTTPS /readyz and /healthz probes`);
    if ((c.args || [])[0] !== 'inject') this.fail('InjectWebhook', `${id(d)}: must run \`astis inject\``);
    const runImage = (c.env || []).find((e) => e.name === 'ASTIS_INJECT_RUN_IMAGE');
    if (!runImage || !DIGEST_IMAGE.test(runImage.value || '')) this.fail('InjectWebhook', `${id(d)}: --run-image must be pinned by digest`);
    const hooks = this.ofKind('MutatingWebhookConfiguration').flatMap((m) => m.webhooks || []);
    if (hooks.length === 0) this.fail('InjectWebhook', 'no MutatingWebhookConfiguration');
    for (const w of hooks) {
      const where = `webhook ${w.name}`;
      if (w.failurePolicy !== 'Fail') this.fail('InjectWebhook', `${where}: failurePolicy must be Fail`);
      if (w.sideEffects !== 'None') this.fail('InjectWebhook', `${where}: sideEffects must be None`);
      if (w.reinvocationPolicy !== 'IfNeeded') this.fail('InjectWebhook', `${where}: reinvocationPolicy must be IfNeeded`);
      if (JSON.stringify(w.admissionReviewVersions) !== '["v1"]') this.fail('InjectWebhook', `${where}: admissionReviewVersions ["v1"]`);
      if (!(w.timeoutSeconds >= 1 && w.timeoutSeconds <= 10)) this.fail('InjectWebhook', `${where}: timeoutSeconds 1..10`);
      const podCreate = (w.rules || []).length > 0 && (w.rules || []).every((r) => JSON.stringify(r.apiGroups) === '[""]' &&
        JSON.stringify(r.resources) === '["pods"]' && JSON.stringify(r.operations) === '["CREATE"]');
      if (!podCreate) this.fail('InjectWebhook', `${where}: rules must be pods CREATE only`);
      if (((w.objectSelector || {}).matchLabels || {})['astis.io/inject'] !== 'true') this.fail('InjectWebhook', `${where}: objectSelector astis.io/inject=true`);
      const excluded = ((w.namespaceSelector || {}).matchExpressions || []).some((e) => e.key === 'kubernetes.io/metadata.name' &&
        e.operator === 'NotIn' && ['astis', 'kube-system'].every((n) => (e.values || []).includes(n)));
      if (!excluded) this.fail('InjectWebhook', `${where}: namespaceSelector must exclude astis and kube-system`);
      const svc = (w.clientConfig || {}).service;
      if (!svc || svc.path !== '/mutate' || !this.ofKind('Service').some((x) => x.metadata.name === svc.name)) {
        this.fail('InjectWebhook', `${where}: clientConfig.service must be a rendered Service, path /mutate`);
      }
    }
  }

  checkWorkload() {
    const ds = this.ofKind('Deployment');
    if (ds.length === 0) this.fail('WorkloadToken', 'no workload Deployment');
    for (const d of ds) {
      const spec = d.spec.template.spec;
      const tokens = (spec.volumes || []).flatMap((v) => ((v.projected && v.projected.sources) || [])
        .filter((s) => s.serviceAccountToken).map((s) => s.serviceAccountToken));
      const good = tokens.some((t) => t.audience === 'astis' && t.expirationSeconds >= 600);
      if (!good) this.fail('WorkloadToken', `${id(d)}: needs a projected token with audience astis and expirationSeconds >= 600`);
      for (const t of tokens) {
        if (t.audience !== 'astis') this.fail('WorkloadToken', `${id(d)}: a projected token for another audience (${t.audience || 'the API server'})`);
      }
      for (const c of allContainers(spec)) {
        for (const m of c.volumeMounts || []) {
          const v = (spec.volumes || []).find((x) => x.name === m.name);
          if (v && v.secret && m.readOnly !== true) this.fail('SecretMountReadOnly', `${id(d)}: secret volume ${v.name} must be mounted readOnly`);
        }
      }
    }
    const roles = this.ofKind('Role');
    if (roles.length === 0) this.fail('DeveloperRole', 'no developer Role');
    for (const r of [...roles, ...this.ofKind('ClusterRole')]) {
      for (const rule of r.rules || []) {
        const resources = rule.resources || [];
        const verbs = rule.verbs || [];
        if ([...resources, ...verbs, ...(rule.apiGroups || [])].includes('*')) this.fail('DeveloperRoleNoWildcard', `${id(r)}: wildcard in ${JSON.stringify(rule)}`);
        for (const f of FORBIDDEN_DEV_RESOURCES) {
          if (resources.includes(f)) this.fail('DeveloperRoleNoExec', `${id(r)}: grants ${f}`);
        }
        if (!verbs.every((v) => READ_VERBS.has(v) || v === '*')) this.fail('DeveloperRoleReadOnly', `${id(r)}: verbs ${verbs} (developers deploy through CI)`);
      }
    }
  }
}

function main() {
  let args;
  try {
    args = parseArgs(process.argv.slice(2));
  } catch (e) {
    console.error(e.message);
    return 2;
  }
  let objects;
  try {
    objects = render(path.resolve(args.dir));
  } catch (e) {
    console.error(`FAIL: kubectl kustomize ${args.dir}: ${e.message}\n` +
                  '(deploy/ needs kubectl >= 1.27, whose built-in kustomize is v5: components, labels, patches)');
    return 1;
  }
  const failures = new Checker(objects, PROFILES[args.profile]).run();
  for (const f of failures) console.log(`  [${f.rule}] ${f.msg}`);
  const rules = new Set(failures.map((f) => f.rule));
  if (args['expect-fail']) {
    if (rules.has(args['expect-fail'])) {
      console.log(`ok: ${args.dir} refused with ${args['expect-fail']} as expected`);
      return 0;
    }
    console.log(`FAIL: ${args.dir} should have failed rule ${args['expect-fail']} (failed: ${[...rules].join(', ') || 'nothing'})`);
    return 1;
  }
  if (failures.length > 0) {
    console.log(`FAIL: ${args.dir} (${args.profile}): ${failures.length} problem(s)`);
    return 1;
  }
  console.log(`ok: ${args.dir} (${args.profile}): ${objects.length} objects valid and hardened`);
  return 0;
}

process.exitCode = main();
