// npm run demo: a chat between two browser tabs on two nodes. Starts a two-node devnet (the
// launcher, with the demo page's origin allowed by CORS), builds and installs apps/chat on both,
// shares one chat context between them, issues each node's member a client token, and serves the
// page of demo/chat with its config.json at http://127.0.0.1:$DEMO_PORT/?node=1 and ?node=2.
// The page talks to its node through the app API only (JSON-RPC and WebSocket). Ctrl-C stops all.
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { serveDemo } from '../demo/serve.mjs';

const root = fileURLToPath(new URL('..', import.meta.url));
const port = Number(process.env.DEMO_PORT ?? 8090);
const origin = `http://127.0.0.1:${port}`;
const say = (line) => process.stdout.write(`demo: ${line}\n`);

const launcher = spawn('bash', ['scripts/start.sh', '--nodes', '2'], {
  cwd: root,
  env: { ...process.env, APP_API_CORS_ORIGINS: origin },
  stdio: ['ignore', 'pipe', 'inherit'],
});
let server;
const stop = () => {
  server?.close();
  if (launcher.exitCode === null) launcher.kill('SIGINT');
};
process.on('SIGINT', stop);
process.on('SIGTERM', stop);
launcher.on('exit', (code) => {
  server?.close();
  process.exit(code ?? 1);
});

// The launcher's own lines go through; its "ready" line means both nodes serve.
await new Promise((resolve) => {
  let buffered = '';
  launcher.stdout.on('data', (chunk) => {
    process.stdout.write(chunk);
    buffered = (buffered + chunk.toString()).slice(-4096);
    if (/processes ready/.test(buffered)) resolve();
  });
});

try {
  // Built by scripts/start.sh above.
  const { AdminApi } = await import('../packages/cli/dist/index.js');
  const { buildApp } = await import('../packages/cli/dist/app-build.js');
  const { fromBase58, generateIdentity } = await import('../packages/primitives/dist/index.js');
  const nodes = ['node1', 'node2'].map((name) => {
    const home = join(root, '.cnode', name);
    const admin = JSON.parse(readFileSync(join(home, 'admin.json'), 'utf8'));
    const appApi = JSON.parse(readFileSync(join(home, 'app-api.json'), 'utf8'));
    const token = readFileSync(admin.tokenFile ?? join(home, 'admin.token'), 'utf8').trim();
    return { name, api: new AdminApi({ address: admin.address, token }, 60_000), apiUrl: `http://${appApi.address}` };
  });

  say('building and installing apps/chat on both nodes…');
  const out = join(mkdtempSync(join(tmpdir(), 'cnode-demo-')), 'chat.bundle');
  const bundle = readFileSync(
    (await buildApp(join(root, 'apps/chat'), { signingKey: generateIdentity().privateKey, out })).bundlePath,
  );
  const installed = [];
  const once = async function* () {
    yield bundle;
  };
  for (const node of nodes) installed.push((await node.api.installApplication(once())).applicationId);

  say('sharing a chat context between node1 and node2…');
  const [first, second] = nodes;
  const created = await first.api.createContext({ application: installed[0] });
  const { publicKey } = await second.api.createIdentity();
  await second.api.joinContext((await first.api.inviteMember(created.contextId, publicKey)).invitationText);
  const members = [created.member, publicKey];
  const deadline = Date.now() + 60_000;
  while (!(await second.api.getContext(created.contextId)).initialized) {
    if (Date.now() > deadline) throw new Error('node2 did not get the context state within 60 s');
    await new Promise((r) => setTimeout(r, 250));
  }

  const config = { contextId: created.contextId, nodes: [] };
  for (const [i, node] of nodes.entries()) {
    const issued = await node.api.createClientToken({
      contextId: created.contextId,
      identity: members[i],
      ttlSeconds: 24n * 3600n,
    });
    config.nodes.push({
      name: node.name,
      apiUrl: node.apiUrl,
      identity: members[i],
      identityHex: fromBase58(members[i]).toString('hex'),
      accessToken: issued.accessToken,
      refreshToken: issued.refreshToken,
    });
    node.api.close();
  }
  server = await serveDemo({ dir: join(root, 'demo', 'chat'), config, port });
  say(`open ${origin}/?node=1 and ${origin}/?node=2 side by side; Ctrl-C stops everything`);
} catch (err) {
  process.stderr.write(`demo: ${err.message ?? err}\n`);
  stop();
}
