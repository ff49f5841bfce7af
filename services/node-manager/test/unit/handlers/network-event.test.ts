import { describe, expect, it } from '@jest/globals';
import { pino } from 'pino';
import { Registry } from 'prom-client';
import { type bus, wire } from '@cnode/proto';
import { ProcessingAction, isProcessingError } from '@cnode/runtime';
import { handleNetworkEvent, type NetworkEventRoutes } from '../../../src/handlers/network-event.js';
import { createNodeManagerMetrics } from '../../../src/metrics.js';
import { NodeManagerErrorCode } from '../../../src/errors.js';

function deps() {
  const registry = new Registry();
  const routed: string[] = [];
  const routes: NetworkEventRoutes = {
    stateDeltas: (deltas) =>
      Promise.resolve(void routed.push(`stateDeltas:${deltas.map((d) => d.deltaId.length).join(',')}`)),
    groupOp: (op) => Promise.resolve(void routed.push(`groupOp:${op.nonce}`)),
    streamOpened: (opened) => Promise.resolve(void routed.push(`stream:${opened.protocol}`)),
    hashHeartbeat: (hb) => Promise.resolve(void routed.push(`heartbeat:${hb.dagHeads.length}`)),
    peerSubscribed: (event) => Promise.resolve(void routed.push(`subscribed:${event.topic}`)),
    groupGovernanceDelta: (delta) => Promise.resolve(void routed.push(`governanceDelta:${delta.payload.length}`)),
    groupHeartbeat: (hb) => Promise.resolve(void routed.push(`groupHeartbeat:${hb.dagHeads.length}`)),
    groupMutation: (note) => Promise.resolve(void routed.push(`mutation:${note.kind}`)),
    specializedDiscovery: (d) => Promise.resolve(void routed.push(`discovery:${d.nonce.length}`)),
    specializedConfirmation: (c) => Promise.resolve(void routed.push(`confirmation:${c.nonce.length}`)),
  };
  return { registry, routed, routes, metrics: createNodeManagerMetrics(registry), logger: pino({ level: 'silent' }) };
}

function gossip(data: Uint8Array): bus.NetworkEvent {
  return {
    observedAtMs: 1n,
    event: {
      $case: 'gossipMessage',
      gossipMessage: { topic: 't', sourcePeer: 'p', messageId: 'm', data: Buffer.from(data) },
    },
  };
}

async function rejection(promise: Promise<void>): Promise<{ action: ProcessingAction; code: string }> {
  try {
    await promise;
  } catch (err) {
    if (isProcessingError(err)) return { action: err.action, code: err.code };
    throw err;
  }
  throw new Error('expected a rejection');
}

describe('handleNetworkEvent', () => {
  it('routes deltas, delta batches, group ops, governance deltas, both heartbeats, mutation notes, opened streams and peer subscriptions to their handlers', async () => {
    const d = deps();
    const delta = wire.BroadcastMessage.encode({
      payload: {
        $case: 'stateDelta',
        stateDelta: wire.StateDelta.fromPartial({ contextId: Buffer.alloc(32), deltaId: Buffer.alloc(32, 1) }),
      },
    }).finish();
    const batch = wire.BroadcastMessage.encode({
      payload: {
        $case: 'stateDeltaBatch',
        stateDeltaBatch: {
          deltas: [16, 32].map((n) =>
            wire.StateDelta.fromPartial({ contextId: Buffer.alloc(32), deltaId: Buffer.alloc(n) }),
          ),
        },
      },
    }).finish();
    const op = wire.BroadcastMessage.encode({
      payload: { $case: 'signedGroupOp', signedGroupOp: wire.SignedGroupOpV1.fromPartial({ nonce: 7n }) },
    }).finish();
    const heartbeat = wire.BroadcastMessage.encode({
      payload: {
        $case: 'hashHeartbeat',
        hashHeartbeat: wire.HashHeartbeat.fromPartial({ dagHeads: [Buffer.alloc(32)] }),
      },
    }).finish();
    const groupHeartbeat = wire.BroadcastMessage.encode({
      payload: {
        $case: 'groupStateHeartbeat',
        groupStateHeartbeat: wire.GroupStateHeartbeat.fromPartial({ dagHeads: [Buffer.alloc(32), Buffer.alloc(32)] }),
      },
    }).finish();
    const governanceDelta = wire.BroadcastMessage.encode({
      payload: {
        $case: 'groupGovernanceDelta',
        groupGovernanceDelta: wire.GroupGovernanceDelta.fromPartial({ payload: Buffer.alloc(3) }),
      },
    }).finish();
    const mutation = wire.BroadcastMessage.encode({
      payload: {
        $case: 'groupMutationNotification',
        groupMutationNotification: wire.GroupMutationNotification.fromPartial({
          kind: wire.GroupMutationKind.GROUP_MUTATION_KIND_MEMBER_REMOVED,
        }),
      },
    }).finish();
    for (const data of [delta, batch, op, heartbeat, groupHeartbeat, governanceDelta, mutation]) {
      await handleNetworkEvent(d, gossip(data));
    }
    await handleNetworkEvent(d, {
      observedAtMs: 1n,
      event: { $case: 'peerSubscribed', peerSubscribed: { peer: 'p', topic: 'ctx' } },
    });
    await handleNetworkEvent(d, {
      observedAtMs: 1n,
      event: { $case: 'peerUnsubscribed', peerUnsubscribed: { peer: 'p', topic: 'ctx' } },
    });
    await handleNetworkEvent(d, {
      observedAtMs: 1n,
      event: {
        $case: 'streamOpened',
        streamOpened: {
          streamId: 's',
          protocol: '/calimero/stream/pb/1',
          peer: 'p',
          initialCredit: 1,
          attachTimeoutMs: 1,
        },
      },
    });
    expect(d.routed).toEqual([
      'stateDeltas:32',
      'stateDeltas:16,32',
      'groupOp:7',
      'heartbeat:1',
      'groupHeartbeat:2',
      'governanceDelta:3',
      'mutation:2',
      'subscribed:ctx',
      'stream:/calimero/stream/pb/1',
    ]);
  });

  it('counts each event by kind', async () => {
    const d = deps();
    await handleNetworkEvent(d, {
      observedAtMs: 1n,
      event: { $case: 'peerConnected', peerConnected: { peer: 'p', remoteAddr: '' } },
    });
    await handleNetworkEvent(d, {
      observedAtMs: 1n,
      event: { $case: 'peerConnected', peerConnected: { peer: 'q', remoteAddr: '' } },
    });
    const values = (await d.metrics.networkEvents.get()).values;
    expect(values.find((v) => v.labels.kind === 'peerConnected')?.value).toBe(2);
  });

  it('decodes gossip as a BroadcastMessage and counts its variant', async () => {
    const d = deps();
    const heartbeat = wire.BroadcastMessage.encode({
      payload: {
        $case: 'hashHeartbeat',
        hashHeartbeat: { contextId: Buffer.alloc(32), rootHash: Buffer.alloc(32), dagHeads: [] },
      },
    }).finish();
    await handleNetworkEvent(d, gossip(heartbeat));
    const values = (await d.metrics.broadcastMessages.get()).values;
    expect(values.find((v) => v.labels.variant === 'hashHeartbeat')?.value).toBe(1);
  });

  it('rejects an event without a variant', async () => {
    expect(await rejection(handleNetworkEvent(deps(), { observedAtMs: 1n }))).toEqual({
      action: ProcessingAction.Reject,
      code: NodeManagerErrorCode.EmptyNetworkEvent,
    });
  });

  it('rejects gossip that is not a BroadcastMessage', async () => {
    const garbage = Uint8Array.from([0xff, 0xff, 0xff, 0xff, 0x0f]);
    expect(await rejection(handleNetworkEvent(deps(), gossip(garbage)))).toEqual({
      action: ProcessingAction.Reject,
      code: NodeManagerErrorCode.MalformedBroadcast,
    });
  });

  it('rejects a BroadcastMessage with no known variant', async () => {
    expect(await rejection(handleNetworkEvent(deps(), gossip(new Uint8Array())))).toEqual({
      action: ProcessingAction.Reject,
      code: NodeManagerErrorCode.UnknownBroadcastVariant,
    });
  });
});
