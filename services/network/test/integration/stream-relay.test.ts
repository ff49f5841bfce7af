import { createHash, randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { RelayedStream, SYNC_PROTOCOL, type RelayOwnerOptions } from '@cnode/bus';
import { metricValue, waitFor } from '@cnode/testing';
import { Cluster, streamOpenedEvents, type TestNode } from './harness.js';

const MIB = 1024 * 1024;
const FRAME = 256 * 1024;
const WINDOW = 256 * 1024;
const cluster = new Cluster();
let a: TestNode;
let b: TestNode;

beforeAll(async () => {
  await cluster.connect();
  const env = { NETWORK_STREAM_WINDOW: String(WINDOW), NETWORK_STREAM_IDLE_TIMEOUT: '2s' };
  a = await cluster.add({ env });
  b = await cluster.add({ bootstrap: [a], env });
  await waitFor(async () => (await a.client.listPeers()).peers.some((p) => p.peer === b.peerId), {
    message: 'a and b connected',
  });
});

afterAll(async () => {
  await cluster.close();
});

const owner = (node: TestNode, idleTimeoutMs = 30_000): RelayOwnerOptions => ({
  nc: cluster.nc,
  catalog: node.catalog,
  idleTimeoutMs,
});

/** Opens a stream a → b and takes it on b's side, as the owners (sync, node-manager) would. */
async function openPair(idleTimeoutMs?: number): Promise<[RelayedStream, RelayedStream]> {
  const seen = streamOpenedEvents(b).length;
  const outbound = await RelayedStream.open(a.client, owner(a, idleTimeoutMs), b.peerId, SYNC_PROTOCOL);
  const opened = await waitFor(() => streamOpenedEvents(b)[seen], { message: 'b to announce the stream' });
  expect(opened).toMatchObject({ protocol: SYNC_PROTOCOL, peer: a.peerId, initialCredit: WINDOW });
  return [outbound, RelayedStream.accept(owner(b, idleTimeoutMs), opened)];
}

async function send(stream: RelayedStream, total: number): Promise<string> {
  const hash = createHash('sha256');
  for (let sent = 0; sent < total; sent += FRAME) {
    const frame = randomBytes(Math.min(FRAME, total - sent));
    hash.update(frame);
    await stream.writeFrame(frame);
  }
  await stream.closeWrite();
  return hash.digest('hex');
}

async function receiveSlowly(stream: RelayedStream, delayEveryMiB: number): Promise<{ hash: string; bytes: number }> {
  const hash = createHash('sha256');
  let bytes = 0;
  for await (const frame of stream) {
    hash.update(frame);
    bytes += frame.length;
    // A slow reader: pause every MiB so the sender must wait on credit.
    if (bytes % MIB === 0) await new Promise((r) => setTimeout(r, delayEveryMiB));
  }
  return { hash: hash.digest('hex'), bytes };
}

async function idleTimeouts(): Promise<number> {
  let total = 0;
  for (const node of [a, b]) {
    total += await metricValue(node.service.registry, 'network_streams_closed_total', { reason: 'idle_timeout' });
  }
  return total;
}

describe('stream relay', () => {
  it('moves 64 MiB each way intact to a slow reader, with bounded buffers, and ends cleanly', async () => {
    const total = 64 * MIB;
    const [atA, atB] = await openPair();
    const [sentAB, gotAB] = await Promise.all([send(atA, total), receiveSlowly(atB, 20)]);
    expect(gotAB).toEqual({ hash: sentAB, bytes: total });
    const [sentBA, gotBA] = await Promise.all([send(atB, total), receiveSlowly(atA, 20)]);
    expect(gotBA).toEqual({ hash: sentBA, bytes: total });

    // The owners never held more than the window plus one frame, however slowly they read.
    expect(atB.maxBufferedBytes).toBeLessThanOrEqual(WINDOW + FRAME);
    expect(atA.maxBufferedBytes).toBeLessThanOrEqual(WINDOW + FRAME);
    // The relaying processes held at most about one muxer window per stream, never the 64 MiB.
    for (const node of [a, b]) {
      const held = await metricValue(node.service.registry, 'network_stream_relay_buffered_bytes_max');
      expect(held).toBeGreaterThan(0);
      expect(held).toBeLessThanOrEqual(2 * MIB);
      expect(
        await metricValue(node.service.registry, 'network_stream_relay_bytes_total', { direction: 'inbound' }),
      ).toBe(total);
    }
    for (const node of [a, b]) {
      await waitFor(
        async () =>
          (await metricValue(node.service.registry, 'network_streams_closed_total', { reason: 'completed' })) === 1,
        { message: `${node.name} to end the stream cleanly` },
      );
    }
  });

  it('a reset on one side surfaces as an error on the other', async () => {
    const [atA, atB] = await openPair();
    await atA.writeFrame(Buffer.from('hello'));
    expect((await atB.readFrame())?.toString()).toBe('hello');
    atA.reset();
    await expect(atB.readFrame()).rejects.toMatchObject({ code: 'BUS_STREAM_RESET', meta: { reason: 'remote_reset' } });
    await expect(atA.writeFrame(Buffer.from('x'))).rejects.toMatchObject({ code: 'BUS_STREAM_RESET' });
  });

  it('an idle stream times out and both owners learn of it', async () => {
    const [atA, atB] = await openPair();
    // NETWORK_STREAM_IDLE_TIMEOUT is 2s on both network services: whichever fires first resets the
    // stream, and the other side sees the peer's reset. Both timers may fire before the reset crosses
    // the connection, so one or two idle timeouts are counted, never none and never more.
    const idleBefore = await idleTimeouts();
    await expect(atB.readFrame()).rejects.toMatchObject({ code: 'BUS_STREAM_RESET' });
    await expect(atA.readFrame()).rejects.toMatchObject({ code: 'BUS_STREAM_RESET' });
    await waitFor(async () => (await idleTimeouts()) >= idleBefore + 1, { message: 'an idle timeout counted' });
    expect(await idleTimeouts()).toBeLessThanOrEqual(idleBefore + 2);
  });

  it('refuses to open a stream on a protocol that is not relayed, and counts it', async () => {
    await expect(RelayedStream.open(a.client, owner(a), b.peerId, '/evil/1')).rejects.toMatchObject({
      meta: { code: 'NETWORK_PROTOCOL_NOT_ALLOWED' },
    });
    expect(
      await metricValue(a.service.registry, 'network_streams_refused_total', { reason: 'protocol_not_allowed' }),
    ).toBe(1);
  });
});
