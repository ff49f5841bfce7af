import { randomBytes } from 'node:crypto';
import { describe, expect, it } from '@jest/globals';
import { HlcClock, compareHlc, reduceActions, type Action } from '@cnode/primitives';
import { KvErrorCode, executeKv, type KvState } from '../../src/index.js';

/** A state that applies the actions the way the store merges them. */
class MemoryState implements KvState {
  private actions: Action[] = [];

  apply(actions: Action[]): void {
    this.actions = reduceActions([...this.actions, ...actions]);
  }

  private live(): { key: Buffer; value: Buffer }[] {
    return this.actions
      .filter((a): a is Extract<Action, { kind: 'set' }> => a.kind === 'set')
      .map((a) => ({ key: a.key, value: a.value }))
      .sort((x, y) => Buffer.compare(x.key, y.key));
  }

  async get(key: Buffer): Promise<Buffer | undefined> {
    return this.live().find((e) => e.key.equals(key))?.value;
  }

  async scan(prefix: Buffer, after: Buffer | undefined, limit: number) {
    return this.live()
      .filter((e) => e.key.subarray(0, prefix.length).equals(prefix) && (!after || Buffer.compare(e.key, after) > 0))
      .slice(0, limit);
  }
}

const json = (value: unknown): Buffer => Buffer.from(JSON.stringify(value));

async function run(state: MemoryState, clock: HlcClock, method: string, args: unknown) {
  const result = await executeKv(method, json(args), state, () => clock.now());
  if (result.kind === 'mutation') state.apply(result.actions);
  return result;
}

describe('kv application', () => {
  it('set_many writes every entry in one mutation and refuses bad batches', async () => {
    const state = new MemoryState();
    const clock = new HlcClock(randomBytes(16));
    const batch = Array.from({ length: 3 }, (_, i) => ({ key: `b${i}`, value: `v${i}` }));
    const result = await run(state, clock, 'set_many', { entries: batch });
    expect(result).toMatchObject({ kind: 'mutation', output: 3 });
    expect(result.kind === 'mutation' && result.actions.map((a) => a.key.toString())).toEqual(['b0', 'b1', 'b2']);
    expect((await state.get(Buffer.from('b2')))?.toString()).toBe('v2');
    for (const args of [
      {},
      { entries: [] },
      { entries: [{ key: 'k' }] },
      { entries: Array(1001).fill({ key: 'k', value: 'v' }) },
    ]) {
      await expect(run(state, clock, 'set_many', args)).rejects.toMatchObject({ code: KvErrorCode.BadArguments });
    }
  });

  it('set, get, remove: mutations become actions stamped with increasing HLCs', async () => {
    const state = new MemoryState();
    const clock = new HlcClock(randomBytes(16));
    const set = await run(state, clock, 'set', { key: 'a', value: '1' });
    expect(set).toMatchObject({ kind: 'mutation', actions: [{ kind: 'set' }] });
    expect((await run(state, clock, 'get', { key: 'a' })).output).toBe('1');
    const removed = await run(state, clock, 'remove', { key: 'a' });
    expect(removed).toMatchObject({ kind: 'mutation', output: true });
    if (set.kind === 'mutation' && removed.kind === 'mutation') {
      expect(compareHlc(set.actions[0]!.at, removed.actions[0]!.at)).toBeLessThan(0);
    }
    expect((await run(state, clock, 'get', { key: 'a' })).output).toBeNull();
  });

  it('removing a missing key produces no action (no delta)', async () => {
    const result = await run(new MemoryState(), new HlcClock(randomBytes(16)), 'remove', { key: 'nope' });
    expect(result).toEqual({ kind: 'mutation', actions: [], output: false });
  });

  it('entries pages through a prefix in key order', async () => {
    const state = new MemoryState();
    const clock = new HlcClock(randomBytes(16));
    for (const k of ['user/3', 'user/1', 'other/1', 'user/2']) await run(state, clock, 'set', { key: k, value: k });
    const first = await run(state, clock, 'entries', { prefix: 'user/', limit: 2 });
    expect(first.output).toEqual({
      entries: [
        { key: 'user/1', value: 'user/1' },
        { key: 'user/2', value: 'user/2' },
      ],
      next: 'user/2',
    });
    const second = await run(state, clock, 'entries', { prefix: 'user/', after: 'user/2', limit: 2 });
    expect(second.output).toEqual({ entries: [{ key: 'user/3', value: 'user/3' }], next: null });
  });

  const refusals: [string, string, unknown, KvErrorCode][] = [
    ['an unknown method', 'drop', {}, KvErrorCode.UnknownMethod],
    ['a missing key', 'set', { value: 'x' }, KvErrorCode.BadArguments],
    ['an empty key', 'get', { key: '' }, KvErrorCode.BadArguments],
    ['a non-string value', 'set', { key: 'k', value: 3 }, KvErrorCode.BadArguments],
    ['a limit out of range', 'entries', { limit: 5000 }, KvErrorCode.BadArguments],
    ['an oversize key', 'get', { key: 'x'.repeat(5000) }, KvErrorCode.BadArguments],
  ];
  for (const [what, method, args, code] of refusals) {
    it(`refuses ${what} with ${code}`, async () => {
      await expect(
        executeKv(method, json(args), new MemoryState(), () => new HlcClock(randomBytes(16)).now()),
      ).rejects.toMatchObject({
        code,
      });
    });
  }

  it('refuses arguments that are not a JSON object', async () => {
    const clock = () => new HlcClock(randomBytes(16)).now();
    await expect(executeKv('get', Buffer.from('not json'), new MemoryState(), clock)).rejects.toMatchObject({
      code: KvErrorCode.BadArguments,
    });
    await expect(executeKv('get', json([1]), new MemoryState(), clock)).rejects.toMatchObject({
      code: KvErrorCode.BadArguments,
    });
  });
});
