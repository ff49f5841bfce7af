/**
 * Test harness: real network services in this process (each its own node namespace on the shared
 * NATS/Postgres/Redis), readers of their NET_EVENTS, and plain js-libp2p nodes built without cnode code.
 */
import { connect } from '@nats-io/transport-node';
import { jetstream, type JetStreamClient } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/nats-core';
import { Registry } from 'prom-client';
import { bus } from '@cnode/proto';
import { NetworkClient, StreamConsumer, createBusMetrics, createCatalog, type Catalog } from '@cnode/bus';
import {
  TEST_INFRA,
  cleanupNode,
  startInProcess,
  testEnv,
  testLogger,
  uniqueNodeName,
  waitFor,
  type RunningService,
} from '@cnode/testing';
import { loadConfig } from '../../src/config.js';
import { createNetworkService, type NetworkService } from '../../src/service.js';

export interface TestNode {
  name: string;
  env: NodeJS.ProcessEnv;
  catalog: Catalog;
  service: RunningService<NetworkService>;
  client: NetworkClient;
  events: bus.NetworkEvent[];
  peerId: string;
  addr: string;
  restart(): Promise<void>;
  stop(): Promise<void>;
}

export class Cluster {
  readonly nodes: TestNode[] = [];
  private readonly readers: StreamConsumer<bus.NetworkEvent>[] = [];
  nc!: NatsConnection;
  js!: JetStreamClient;

  async connect(): Promise<void> {
    this.nc = await connect({ servers: TEST_INFRA.natsUrl });
    this.js = jetstream(this.nc);
  }

  /** Starts a network service; `bootstrap` nodes are dialled at start. */
  async add(opts: { bootstrap?: TestNode[]; env?: NodeJS.ProcessEnv; readEvents?: boolean } = {}): Promise<TestNode> {
    const name = uniqueNodeName('n');
    const env = testEnv(name, {
      NETWORK_BOOTSTRAP: (opts.bootstrap ?? []).map((n) => n.addr).join(','),
      NETWORK_BOOTSTRAP_INTERVAL: '500ms',
      ...opts.env,
    });
    const catalog = createCatalog(name);
    const events: bus.NetworkEvent[] = [];
    const node: TestNode = {
      name,
      env,
      catalog,
      service: await startInProcess(createNetworkService, loadConfig(env)),
      client: new NetworkClient({ nc: () => this.nc, catalog, timeoutMs: 10_000 }),
      events,
      peerId: '',
      addr: '',
      restart: async () => {
        await node.service.stop();
        node.service = await startInProcess(createNetworkService, loadConfig(env));
      },
      stop: () => node.service.stop(),
    };
    node.peerId = node.service.handle.host.libp2p.peerId.toString();
    node.addr = node.service.handle.host.listenAddrs()[0]!;
    this.nodes.push(node);
    if (opts.readEvents === false) return node;
    // This test plays node-manager: it reads the node's NET_EVENTS through the same durable consumer.
    const reader = new StreamConsumer<bus.NetworkEvent>({
      spec: catalog.consumers.netEvents,
      decode: (data) => bus.NetworkEvent.decode(data),
      handle: async (event) => void events.push(event),
      concurrency: 1,
      js: () => this.js,
      metrics: createBusMetrics(new Registry()),
      logger: testLogger(),
    });
    await reader.start();
    this.readers.push(reader);
    return node;
  }

  async close(): Promise<void> {
    for (const reader of this.readers) await reader.stop();
    for (const node of this.nodes) await node.stop();
    for (const node of this.nodes) await cleanupNode(node.name);
    await this.nc?.close();
  }
}

export const gossipEvents = (node: TestNode, topic: string): bus.GossipMessage[] =>
  node.events.flatMap((e) =>
    e.event?.$case === 'gossipMessage' && e.event.gossipMessage.topic === topic ? [e.event.gossipMessage] : [],
  );

export const subscribedEvents = (node: TestNode, topic: string, subscribed = true): string[] =>
  node.events.flatMap((e) => {
    const ev = e.event;
    if (subscribed && ev?.$case === 'peerSubscribed' && ev.peerSubscribed.topic === topic)
      return [ev.peerSubscribed.peer];
    if (!subscribed && ev?.$case === 'peerUnsubscribed' && ev.peerUnsubscribed.topic === topic)
      return [ev.peerUnsubscribed.peer];
    return [];
  });

export const streamOpenedEvents = (node: TestNode): bus.StreamOpened[] =>
  node.events.flatMap((e) => (e.event?.$case === 'streamOpened' ? [e.event.streamOpened] : []));

/** Waits until `topic`'s subscribers, as seen by `node`, include every peer in `peers`. */
export async function waitForSubscribers(
  node: TestNode,
  topic: string,
  peers: string[],
  timeoutMs?: number,
): Promise<void> {
  await waitFor(
    async () => {
      const { subscribers } = await node.client.topicPeers(topic);
      return peers.every((p) => subscribers.includes(p));
    },
    { message: `${node.name} to see ${peers.length} subscribers of ${topic}`, timeoutMs },
  );
}
