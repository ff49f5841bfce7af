/**
 * The chat demo in a real browser: two headless Chromium pages, each on a different node (every
 * service a process, real libp2p on loopback), each talking to its node only through the app API
 * (JSON-RPC and WebSocket, cross-origin under CORS). A message sent on one page appears on the
 * other. Needs Debian's `chromium` (`.ci/run` installs it); without it this test fails and says so.
 */
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { chromium, type Browser, type Page } from 'playwright-core';
import { fromBase58, generateIdentity } from '@cnode/primitives';
import { ProcessNode, onePiece } from '@cnode/testing';
import { buildApp } from '../../packages/cli/src/app-build.js';
import { serveDemo } from '../../demo/serve.mjs';

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
let nodes: ProcessNode[] = [];
let server: Server;
let browser: Browser;
let pages: Page[];
let origin: string;

beforeAll(async () => {
  if (!existsSync(CHROMIUM)) {
    throw new Error(
      `no browser at ${CHROMIUM}: install Debian's chromium (apt-get install chromium) or set CHROMIUM_PATH`,
    );
  }
  // The page's origin must be known before the nodes start (they allow it by CORS).
  const config: { contextId: string; nodes: unknown[] } = { contextId: '', nodes: [] };
  server = await serveDemo({ dir: 'demo/chat', config, port: 0 });
  origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  nodes = await Promise.all([0, 1].map(() => ProcessNode.start({ env: { APP_API_CORS_ORIGINS: origin } })));

  const out = join(mkdtempSync(join(tmpdir(), 'cnode-demo-')), 'chat.bundle');
  const bundle = readFileSync(
    (await buildApp('apps/chat', { signingKey: generateIdentity().privateKey, out })).bundlePath,
  );
  const [appId] = await Promise.all(
    nodes.map(async (n) => (await n.api.installApplication(onePiece(bundle))).applicationId),
  );
  const chat = await ProcessNode.sharedContext(nodes, appId);
  config.contextId = chat.contextId;
  for (const [i, node] of nodes.entries()) {
    const issued = await node.api.createClientToken({ contextId: chat.contextId, identity: chat.members[i]! });
    config.nodes.push({
      name: node.name,
      apiUrl: node.appApiUrl,
      identity: chat.members[i],
      identityHex: fromBase58(chat.members[i]!).toString('hex'),
      accessToken: issued.accessToken,
      refreshToken: issued.refreshToken,
    });
  }

  browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
  pages = await Promise.all(
    [1, 2].map(async (n) => {
      const page = await browser.newPage();
      page.on('pageerror', (err) => process.stderr.write(`page ${n}: ${err.message}\n`));
      await page.goto(`${origin}/?node=${n}`);
      return page;
    }),
  );
  await Promise.all(pages.map((p) => p.locator('#status', { hasText: 'live' }).waitFor({ timeout: 30_000 })));
}, 240_000);

afterAll(async () => {
  await browser?.close();
  server?.close();
  await Promise.all(nodes.map((n) => n.stop()));
});

async function send(page: Page, text: string): Promise<void> {
  await page.fill('#text', text);
  await page.click('#send');
  await page.locator('#messages li.mine', { hasText: text }).waitFor({ timeout: 20_000 });
}

describe('the chat demo in Chromium', () => {
  it('two pages on two nodes see each other’s messages live', async () => {
    const [one, two] = pages as [Page, Page];
    await send(one, 'hello from node one');
    await two.locator('#messages li:not(.mine)', { hasText: 'hello from node one' }).waitFor({ timeout: 30_000 });
    await send(two, 'and back from node two');
    await one.locator('#messages li:not(.mine)', { hasText: 'and back from node two' }).waitFor({ timeout: 30_000 });
    for (const page of pages) {
      const texts = await page.locator('#messages li .text').allTextContents();
      expect(texts).toEqual(['hello from node one', 'and back from node two']);
    }
    for (const page of pages) expect(await page.locator('#error').isHidden()).toBe(true);
  }, 120_000);
});
