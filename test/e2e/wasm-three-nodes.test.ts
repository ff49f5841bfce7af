/**
 * The example applications on three nodes (every service a process, libp2p on loopback), installed
 * as the signed bundles `cnode app build` makes: the AssemblyScript key-value app takes 300 concurrent calls from all three members and every node
 * ends with the same root, the same entries and every event the app emitted; the chat app's
 * `posted` event names the `deliver` handler, which runs once on each receiving node and never on
 * the author's.
 */
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { fromBase58, generateIdentity } from '@cnode/primitives';
import type { admin } from '@cnode/proto';
import { ProcessNode, onePiece, waitFor } from '@cnode/testing';
import { buildApp } from '../../packages/cli/src/app-build.js';

let nodes: ProcessNode[];
/** Each node's member identity in the chat context, hex (what the app sees as the executor). */
let chatMembers: string[];
let kvContext: string;
let chatContext: string;

/** The signed bundle `cnode app build` makes of an example application. */
async function bundleOf(dir: string, signingKey: Buffer): Promise<Buffer> {
  const out = join(mkdtempSync(join(tmpdir(), 'cnode-app-')), 'app.bundle');
  return readFileSync((await buildApp(dir, { signingKey, out })).bundlePath);
}

/** The app events each node's event stream delivers for a context, collected as they come. */
function collectEvents(contextId: string): { events: admin.AppEvent[][]; stop: () => void } {
  const events: admin.AppEvent[][] = nodes.map(() => []);
  const streams = nodes.map((node, i) => {
    const stream = node.api.subscribeEvents(contextId);
    stream.on('data', (e: admin.SubscribeEventsResponse) => {
      if (e.event?.event?.$case === 'stateMutation') events[i]!.push(...e.event.event.stateMutation.events);
    });
    stream.on('error', () => undefined);
    return stream;
  });
  return { events, stop: () => streams.forEach((s) => s.cancel()) };
}

const dataOf = (e: admin.AppEvent): Record<string, string> =>
  JSON.parse(Buffer.from(e.data).toString('utf8')) as Record<string, string>;

beforeAll(async () => {
  nodes = await Promise.all([ProcessNode.start(), ProcessNode.start(), ProcessNode.start()]);
  const signingKey = generateIdentity().privateKey;
  const kvApp = await bundleOf('apps/kv', signingKey);
  const chatApp = await bundleOf('apps/chat', signingKey);
  const installed = await Promise.all(
    nodes.map(async (n) => [
      (await n.api.installApplication(onePiece(kvApp))).applicationId,
      (await n.api.installApplication(onePiece(chatApp))).applicationId,
    ]),
  );
  kvContext = (await ProcessNode.sharedContext(nodes, installed[0]![0])).contextId;
  const chat = await ProcessNode.sharedContext(nodes, installed[0]![1]);
  chatContext = chat.contextId;
  chatMembers = chat.members.map((m) => fromBase58(m).toString('hex'));
}, 240_000);

afterAll(async () => {
  await Promise.all((nodes ?? []).filter(Boolean).map((n) => n.stop()));
}, 60_000);

describe('installed applications on three nodes', () => {
  it('converges after 300 concurrent calls from all members, with every event on every node', async () => {
    const watched = collectEvents(kvContext);
    const calls = nodes.flatMap((node, n) =>
      Array.from({ length: 100 }, (_, i) =>
        node.api.execute(kvContext, 'set', { key: `k${i % 60}`, value: `node ${n} call ${i}` }).then(() => `${n}:${i}`),
      ),
    );
    const done = await Promise.all(calls);
    expect(done).toHaveLength(300);

    await waitFor(
      async () => {
        const infos = await Promise.all(nodes.map((n) => n.api.getContext(kvContext)));
        const heads = infos.map((c) => [...c.heads].sort().join(','));
        return infos.every((c, i) => c.rootHash === infos[0]!.rootHash && heads[i] === heads[0]);
      },
      { timeoutMs: 120_000, message: 'the three nodes to reach one root and the same heads' },
    );
    const entries = await Promise.all(nodes.map((n) => n.entries(kvContext)));
    expect(Object.keys(entries[0]!)).toHaveLength(60);
    expect(entries[1]).toEqual(entries[0]);
    expect(entries[2]).toEqual(entries[0]);
    // Every call's `set` event reached every node: each node saw 300 of them.
    await waitFor(() => watched.events.every((list) => list.filter((e) => e.kind === 'set').length >= 300), {
      timeoutMs: 60_000,
      message: 'every set event on every node',
    });
    for (const list of watched.events) expect(list.filter((e) => e.kind === 'set')).toHaveLength(300);
    watched.stop();
  }, 300_000);

  it("runs a handler once on each receiving node and never on the author's", async () => {
    const watched = collectEvents(chatContext);
    const perNode = 10;
    const posts = nodes.flatMap((node, n) =>
      Array.from({ length: perNode }, (_, i) =>
        node.api.execute(chatContext, 'post', { id: `m${n}-${i}`, text: `hello ${i} from ${n}` }),
      ),
    );
    await Promise.all(posts);
    const ids = nodes.flatMap((_, n) => Array.from({ length: perNode }, (_, i) => ({ id: `m${n}-${i}`, author: n })));

    // Each message is delivered to the two other members, once; the receipts replicate everywhere.
    const receipts = async (node: ProcessNode, id: string, member: string) =>
      (await node.api.execute(chatContext, 'receipts', { id, member })).output;
    await waitFor(
      async () => {
        for (const node of nodes) {
          for (const { id, author } of ids) {
            for (const [m, member] of chatMembers.entries()) {
              if (m !== author && (await receipts(node, id, member)) !== 1) return false;
            }
          }
        }
        return true;
      },
      { timeoutMs: 120_000, intervalMs: 500, message: 'a receipt of every message from every receiver, on every node' },
    );
    for (const { id, author } of ids) expect(await receipts(nodes[0]!, id, chatMembers[author]!)).toBe(0);
    // Each node ran the handler for the other nodes' posts only, and each run committed.
    for (const node of nodes) {
      expect(await node.metric('node-manager', 'node_manager_app_handlers_total', { outcome: 'ran' })).toBe(
        perNode * (nodes.length - 1),
      );
      expect(await node.metric('node-manager', 'node_manager_app_handlers_total', { outcome: 'failed' })).toBe(0);
    }
    // The handlers' own events (`delivered`) reached every node too; the `posted` events name their handler.
    await waitFor(() => watched.events.every((list) => list.filter((e) => e.kind === 'delivered').length >= 60), {
      timeoutMs: 60_000,
      message: 'every delivered event on every node',
    });
    for (const list of watched.events) {
      const delivered = list.filter((e) => e.kind === 'delivered').map(dataOf);
      expect(new Set(delivered.map((d) => `${d.id}>${d.to}`)).size).toBe(60);
      const posted = list.filter((e) => e.kind === 'posted');
      expect(posted).toHaveLength(30);
      expect(posted.every((e) => e.handler === 'deliver')).toBe(true);
    }
    watched.stop();
  }, 300_000);
});
