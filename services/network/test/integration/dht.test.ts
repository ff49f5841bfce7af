import { createHash } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { waitFor } from '@cnode/testing';
import { Cluster, type TestNode } from './harness.js';

const cluster = new Cluster();
let a: TestNode;
let b: TestNode;
let c: TestNode;
const key = (text: string): Buffer => createHash('sha256').update(text).digest();

beforeAll(async () => {
  await cluster.connect();
  a = await cluster.add();
  b = await cluster.add({ bootstrap: [a] });
  c = await cluster.add({ bootstrap: [a, b] });
  for (const node of [a, b, c]) {
    await waitFor(async () => (await node.client.listPeers()).peers.length >= 2, {
      message: `${node.name} connected to both`,
    });
  }
});

afterAll(async () => {
  await cluster.close();
});

describe('DHT commands', () => {
  it('a record put by one node is found by another', async () => {
    await a.client.dhtPutRecord(key('record'), Buffer.from('blob-location'));
    const got = await waitFor(
      async () => {
        const res = await c.client.dhtGetRecord(key('record'));
        return res.found ? res : undefined;
      },
      { message: 'c to find the record' },
    );
    expect(got.value.toString()).toBe('blob-location');
    expect((await c.client.dhtGetRecord(key('missing'))).found).toBe(false);
  });

  it('finds the provider of a key', async () => {
    await a.client.dhtProvide(key('blob'));
    const res = await waitFor(
      async () => {
        const found = await c.client.dhtFindProviders(key('blob'), 5);
        return found.providers.length > 0 ? found : undefined;
      },
      { message: 'c to find a as provider' },
    );
    expect(res.providers.map((p) => p.peer)).toContain(a.peerId);
  });

  it('refuses keys that are not 32 bytes and oversize values', async () => {
    await expect(a.client.dhtGetRecord(Buffer.from('short'))).rejects.toMatchObject({
      meta: { code: 'NETWORK_BAD_ARGUMENT' },
    });
    await expect(a.client.dhtPutRecord(key('x'), Buffer.alloc(257))).rejects.toMatchObject({
      meta: { code: 'NETWORK_BAD_ARGUMENT' },
    });
  });
});
