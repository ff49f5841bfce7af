/**
 * The walking skeleton: network and node-manager of one node, in this process, against the real
 * NATS, Postgres and Redis, with a plain libp2p peer dialling the network service over loopback.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { createLibp2p, type Libp2p } from 'libp2p';
import { tcp } from '@libp2p/tcp';
import { noise } from '@chainsafe/libp2p-noise';
import { yamux } from '@chainsafe/libp2p-yamux';
import { identify } from '@libp2p/identify';
import { ping } from '@libp2p/ping';
import { multiaddr } from '@multiformats/multiaddr';
import { credentials, Metadata, status } from '@grpc/grpc-js';
import { jetstream } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import { admin, bus } from '@cnode/proto';
import { NetEventKind, createCatalog } from '@cnode/bus';
import {
  cleanupNode,
  healthCheck,
  reflectionListServices,
  metricValue,
  startInProcess,
  testEnv,
  uniqueNodeName,
  waitFor,
  TEST_INFRA,
} from '@cnode/testing';
import { loadConfig as loadNetworkConfig } from '../../services/network/src/config.js';
import { createNetworkService, type NetworkService } from '../../services/network/src/service.js';
import { loadConfig as loadNodeManagerConfig } from '../../services/node-manager/src/config.js';
import { createNodeManagerService, type NodeManagerService } from '../../services/node-manager/src/service.js';
import type { RunningService } from '@cnode/testing';

const node = uniqueNodeName('e');
const env = testEnv(node);
let network: RunningService<NetworkService>;
let nodeManager: RunningService<NodeManagerService>;
let peer: Libp2p;

beforeAll(async () => {
  network = await startInProcess(createNetworkService, loadNetworkConfig(env));
  nodeManager = await startInProcess(createNodeManagerService, loadNodeManagerConfig(env));
  peer = await createLibp2p({
    addresses: { listen: ['/ip4/127.0.0.1/tcp/0'] },
    transports: [tcp()],
    connectionEncrypters: [noise()],
    streamMuxers: [yamux()],
    services: { identify: identify(), ping: ping() },
  });
});

afterAll(async () => {
  await peer?.stop();
  await nodeManager?.stop();
  await network?.stop();
  await cleanupNode(node);
});

const consumed = (outcome: string, code = ''): Promise<number> =>
  metricValue(nodeManager.registry, 'bus_messages_consumed_total', { consumer: 'node-manager', outcome, code });

async function publishRaw(kind: NetEventKind, data: Uint8Array): Promise<void> {
  const nc = await connect({ servers: TEST_INFRA.natsUrl });
  try {
    await jetstream(nc).publish(createCatalog(node).subjects.netEvent(kind), data);
  } finally {
    await nc.close();
  }
}

function adminClient(): admin.NodeServiceClient {
  const address = nodeManager.handle.admin.address;
  if (!address) throw new Error('admin server has no address');
  return new admin.NodeServiceClient(address, credentials.createInsecure());
}

function withToken(token: string): Metadata {
  const metadata = new Metadata();
  metadata.set('authorization', `Bearer ${token}`);
  return metadata;
}

const adminToken = (): string => readFileSync(join(env.NODE_HOME!, 'admin.token'), 'utf8').trim();

function getInfo(metadata: Metadata): Promise<admin.GetInfoResponse> {
  const client = adminClient();
  return new Promise<admin.GetInfoResponse>((resolve, reject) =>
    client.getInfo({}, metadata, (err, res) => (err ? reject(err) : resolve(res))),
  ).finally(() => client.close());
}

describe('walking skeleton', () => {
  it('a peer connection observed by network reaches node-manager through NET_EVENTS', async () => {
    const addr = network.handle.host.listenAddrs()[0];
    expect(addr).toBeDefined();
    await peer.dial(multiaddr(addr));
    await waitFor(
      async () =>
        (await metricValue(nodeManager.registry, 'node_manager_network_events_total', { kind: 'peerConnected' })) >= 1,
      { message: 'node-manager to count the peerConnected event' },
    );
    expect(await metricValue(network.registry, 'network_events_published_total', { kind: 'peer-connected' })).toBe(1);
    expect(await consumed('acked')).toBeGreaterThanOrEqual(1);
  });

  it('a poison message on NET_EVENTS is terminated and counted, and the consumer keeps going', async () => {
    // Field 1 with wire type 7 does not exist in protobuf: no decoder accepts it.
    await publishRaw(NetEventKind.Gossip, Uint8Array.from([0x0f, 0x01]));
    await waitFor(async () => (await consumed('poison', 'UNDECODABLE')) === 1, { message: 'poison terminated' });
    const event = bus.NetworkEvent.encode({
      observedAtMs: 1n,
      event: {
        $case: 'gossipMessage',
        gossipMessage: { topic: 't', sourcePeer: 'p', messageId: 'm', data: Buffer.from([0x0f, 0x01]) },
      },
    }).finish();
    await publishRaw(NetEventKind.Gossip, event);
    await waitFor(async () => (await consumed('rejected', 'NM_MALFORMED_BROADCAST')) === 1, {
      message: 'malformed broadcast rejected',
    });
    expect(nodeManager.handle.isReady()).toBe(true);
  });

  it('GetInfo with the token returns the node, its peer id and the readiness of its services', async () => {
    const info = await waitFor(
      async () => {
        const res = await getInfo(withToken(adminToken()));
        const ready = res.services.filter((s) => s.ready).map((s) => s.service);
        return ready.includes('network') && ready.includes('node-manager') ? res : undefined;
      },
      { message: 'network and node-manager reported ready' },
    );
    expect(info.nodeName).toBe(node);
    expect(info.peerId).toBe(network.handle.host.libp2p.peerId.toString());
    expect(info.listenAddrs).toEqual(network.handle.host.listenAddrs());
    expect(info.services.map((s) => s.service)).toEqual(['network', 'node-manager', 'sync', 'state-delta', 'gc']);
    expect(info.services.find((s) => s.service === 'sync')).toMatchObject({ instances: 0, ready: false });
  });

  it('a call without the token, or with a wrong one, gets UNAUTHENTICATED', async () => {
    await expect(getInfo(new Metadata())).rejects.toMatchObject({ code: status.UNAUTHENTICATED });
    await expect(getInfo(withToken('not-the-token'))).rejects.toMatchObject({ code: status.UNAUTHENTICATED });
    // One spelling of the method for refused and served calls alike.
    expect(
      await metricValue(nodeManager.registry, 'admin_grpc_requests_total', {
        method: 'GetInfo',
        code: 'UNAUTHENTICATED',
      }),
    ).toBe(2);
    await getInfo(withToken(adminToken()));
    expect(
      await metricValue(nodeManager.registry, 'admin_grpc_requests_total', { method: 'GetInfo', code: 'OK' }),
    ).toBeGreaterThanOrEqual(1);
    expect(
      await metricValue(nodeManager.registry, 'grpc_server_handling_seconds_count', {
        grpc_method: 'GetInfo',
        grpc_code: 'OK',
      }),
    ).toBeGreaterThanOrEqual(1);
  });

  it('serves the standard health service without a token, and reflection with one', async () => {
    const address = nodeManager.handle.admin.address!;
    expect(await healthCheck(address, 'cnode.admin.v1.NodeService')).toBe('SERVING');
    await expect(reflectionListServices(address, new Metadata())).rejects.toMatchObject({
      code: status.UNAUTHENTICATED,
    });
    expect(await reflectionListServices(address, withToken(adminToken()))).toContain('cnode.admin.v1.NodeService');
  });
});
