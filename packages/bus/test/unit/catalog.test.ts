import { describe, expect, it } from '@jest/globals';
import { NetEventKind, createCatalog } from '../../src/catalog.js';

function allNames(node: string): string[] {
  const c = createCatalog(node);
  return [
    ...Object.values(c.streams).flatMap((s) => [s.name, ...s.subjects]),
    c.subjects.netEvent(NetEventKind.Gossip),
    c.redis.prefix,
    c.postgres.schema,
  ];
}

describe('catalog', () => {
  it('puts everything a node creates under its own namespace', () => {
    const a = allNames('alpha');
    const b = allNames('beta');
    expect(a.filter((name) => b.includes(name))).toEqual([]);
    for (const name of a) expect(name.toLowerCase()).toContain('alpha');
  });

  it('builds valid JetStream stream names (no dots, wildcards or spaces)', () => {
    for (const stream of Object.values(createCatalog('node-7').streams)) {
      expect(stream.name).toMatch(/^[A-Z0-9_]+$/);
    }
  });

  it('keeps each mailbox subject inside its own stream', () => {
    const c = createCatalog('n');
    expect(c.subjects.stateDeltaFor('abc')).toBe('cnode.n.state-delta.abc');
    expect(c.streams.stateDelta.subjects).toEqual(['cnode.n.state-delta.>']);
    expect(c.subjects.netEvent(NetEventKind.PeerConnected)).toBe('cnode.n.net.events.peer-connected');
    expect(c.streams.netEvents.subjects).toEqual(['cnode.n.net.events.>']);
  });

  it('sizes mailboxes from the limits it is given (STATE_DELTA defaults to 2048, discard new)', () => {
    expect(createCatalog('n').streams.stateDelta).toMatchObject({ maxMsgs: 2048, discard: 'new' });
    expect(createCatalog('n', { stateDeltaMax: 10 }).streams.stateDelta.maxMsgs).toBe(10);
    expect(createCatalog('n', { stateDeltaInFlight: 7 }).consumers.stateDelta.maxAckPending).toBe(7);
  });
});
