// Drives `astis mcp` with the official MCP TypeScript SDK client over stdio:
// initialize, list tools, call every tool, check the results.
// Usage: node sdk_client_test.mjs /path/to/astis /path/to/contract.yaml
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import assert from 'node:assert/strict';

const here = dirname(fileURLToPath(import.meta.url));
if (!existsSync(join(here, 'node_modules', '@modelcontextprotocol', 'sdk'))) {
  console.error(`FAIL: ${here}/node_modules is missing: run \`npm ci --prefix ${here}\` first`);
  process.exit(1);
}
const [astis, contractFile] = process.argv.slice(2);
if (!astis || !contractFile) {
  console.error('usage: node sdk_client_test.mjs ASTIS_BINARY CONTRACT_FILE');
  process.exit(2);
}
const { Client } = await import('@modelcontextprotocol/sdk/client/index.js');
const { StdioClientTransport } = await import('@modelcontextprotocol/sdk/client/stdio.js');

let passed = 0;
let failed = 0;
async function check(name, fn) {
  try {
    await fn();
    passed++;
    console.log(`ok ${name}`);
  } catch (e) {
    failed++;
    console.log(`not ok ${name}: ${e && e.stack ? e.stack : e}`);
  }
}

const transport = new StdioClientTransport({ command: astis, args: ['mcp', '--contract', contractFile], stderr: 'pipe' });
const client = new Client({ name: 'astis-mcp-sdk-test', version: '1.0.0' });
await client.connect(transport);

await check('server info and capabilities', async () => {
  assert.equal(client.getServerVersion().name, 'astis');
  assert.ok(client.getServerCapabilities().tools);
});

const expected = ['describe_contract', 'generate_manifests', 'generate_token_config', 'generate_seal_commands',
  'generate_sdk_code', 'lint_manifests'];
let tools = [];
await check('tools/list', async () => {
  tools = (await client.listTools()).tools;
  assert.deepEqual(tools.map((t) => t.name), expected);
  for (const t of tools) assert.equal(t.inputSchema.type, 'object');
});

function text(result) {
  assert.equal(result.content[0].type, 'text');
  return result.content[0].text;
}

let manifests = '';
await check('describe_contract', async () => {
  const r = await client.callTool({ name: 'describe_contract', arguments: {} });
  assert.equal(r.isError, false);
  assert.match(text(r), /prod-eu1/);
  assert.equal(r.structuredContent.contract.serviceAccount, 'api');
});
await check('generate_manifests', async () => {
  const r = await client.callTool({ name: 'generate_manifests', arguments: {} });
  assert.equal(r.isError, false);
  manifests = text(r);
  assert.match(manifests, /kind: Deployment/);
  assert.match(manifests, /automountServiceAccountToken: false/);
  assert.match(manifests, /@sha256:a{64}/);
  assert.match(manifests, /kind: Namespace\n[^]*astis\.io\/workloads: "enabled"/);
  assert.match(manifests, /kind: ClusterRole\n  name: astis-edge-pod-reader/);
});
await check('generate_manifests for an existing namespace', async () => {
  const r = await client.callTool({ name: 'generate_manifests', arguments: { namespaceExists: true } });
  assert.equal(r.isError, false);
  assert.doesNotMatch(text(r), /kind: Namespace/);
  assert.deepEqual(r.structuredContent.namespacePatch, { metadata: { labels: { 'astis.io/workloads': 'enabled' } } });
});
await check('generate_token_config for a registered cluster', async () => {
  const r = await client.callTool({ name: 'generate_token_config', arguments: { clusterRegistered: true } });
  assert.equal(r.isError, false);
  assert.doesNotMatch(text(r), /astis cluster add/);
  assert.match(text(r), /kind: RoleBinding/);
});
await check('generate_token_config', async () => {
  const r = await client.callTool({ name: 'generate_token_config', arguments: {} });
  assert.equal(r.isError, false);
  assert.match(text(r), /astis cluster add --name prod-eu1/);
  assert.match(text(r), /--token-file \/etc\/astis\/clusters\/prod-eu1\.token/);
  assert.match(text(r), /astis workload add --cluster prod-eu1 --namespace payments --service-account api --image sha256:/);
  assert.match(text(r), /astis apikey create --cluster prod-eu1/);
});
await check('generate_seal_commands', async () => {
  const r = await client.callTool({ name: 'generate_seal_commands', arguments: {} });
  assert.equal(r.isError, false);
  assert.match(text(r), /astis seal --public-key org-key.pub.jwk .* --from-file password=/);
  assert.doesNotMatch(text(r), /--from-literal/);
});
for (const language of ['c', 'cpp', 'python', 'go', 'astis-run']) {
  await check(`generate_sdk_code ${language}`, async () => {
    const r = await client.callTool({ name: 'generate_sdk_code', arguments: { language } });
    assert.equal(r.isError, false);
    assert.match(text(r), /password/);
  });
}
await check('generate_sdk_code with a bad language is a tool error', async () => {
  const r = await client.callTool({ name: 'generate_sdk_code', arguments: { language: 'cobol' } });
  assert.equal(r.isError, true);
});
await check('lint_manifests on the generated manifests', async () => {
  const r = await client.callTool({ name: 'lint_manifests', arguments: { yaml: manifests } });
  assert.equal(r.isError, false);
  assert.equal(r.structuredContent.errors, 0, text(r));
});
await check('lint_manifests finds an unpinned image', async () => {
  const r = await client.callTool({ name: 'lint_manifests', arguments: { yaml: manifests.replace(/"registry[^"]*@sha256:a+"/, 'nginx:latest') } });
  assert.ok(r.structuredContent.errors > 0);
  assert.match(text(r), /image-not-pinned/);
});
await check('unknown tool is a JSON-RPC error', async () => {
  await assert.rejects(client.callTool({ name: 'no_such_tool', arguments: {} }), (e) => e.code === -32602);
});

await client.close();
console.log(`${passed} passed, ${failed} failed`);
process.exit(failed === 0 && passed > 0 ? 0 : 1);
