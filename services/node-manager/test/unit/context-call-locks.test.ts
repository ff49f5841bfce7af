import { describe, expect, it } from '@jest/globals';
import { ContextCallLocks } from '../../src/contexts/wasm-calls.js';

const counter = () => {
  const seen: string[] = [];
  return { seen, inc: (labels: { reason: string }) => void seen.push(labels.reason) };
};

describe('ContextCallLocks', () => {
  it('runs the calls of one context one at a time, in order, and those of another beside them', async () => {
    const locks = new ContextCallLocks({ maxQueuedPerContext: 10, maxQueued: 10 }, counter());
    const log: string[] = [];
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const first = locks.run('a', async () => {
      log.push('a1 start');
      await gate;
      log.push('a1 end');
    });
    const second = locks.run('a', async () => void log.push('a2'));
    await locks.run('b', async () => void log.push('b1'));
    expect(log).toEqual(['a1 start', 'b1']);
    release();
    await Promise.all([first, second]);
    expect(log).toEqual(['a1 start', 'b1', 'a1 end', 'a2']);
  });

  it('refuses a call beyond the bound of its context and counts it; a failed call frees its place', async () => {
    const rejected = counter();
    const locks = new ContextCallLocks({ maxQueuedPerContext: 2, maxQueued: 10 }, rejected);
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const held = [locks.run('a', () => gate), locks.run('a', () => Promise.resolve())];
    await expect(locks.run('a', () => Promise.resolve())).rejects.toMatchObject({ code: 'ADMIN_WRITES_BUSY' });
    expect(rejected.seen).toEqual(['call_lock_full']);
    release();
    await Promise.all(held);
    await expect(locks.run('a', () => Promise.reject(new Error('app failed')))).rejects.toThrow('app failed');
    await expect(locks.run('a', () => Promise.resolve('ran'))).resolves.toBe('ran');
  });

  it('refuses beyond the bound over all contexts', async () => {
    const rejected = counter();
    const locks = new ContextCallLocks({ maxQueuedPerContext: 10, maxQueued: 1 }, rejected);
    let release!: () => void;
    const held = locks.run('a', () => new Promise<void>((r) => (release = r)));
    await expect(locks.run('b', () => Promise.resolve())).rejects.toMatchObject({ code: 'ADMIN_WRITES_BUSY' });
    release();
    await held;
    expect(rejected.seen).toEqual(['call_lock_full']);
  });
});
