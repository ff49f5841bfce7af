import { describe, expect, it } from '@jest/globals';
import { pino } from 'pino';
import { Lifecycle, LifecycleStatus, startable } from '../../src/lifecycle.js';

const log = pino({ level: 'silent' });

function recorder() {
  const events: string[] = [];
  const component = (name: string, opts: { failStart?: boolean; failStop?: boolean } = {}) =>
    startable(
      name,
      async () => {
        events.push(`start ${name}`);
        if (opts.failStart) throw new Error(`${name} cannot start`);
      },
      async () => {
        events.push(`stop ${name}`);
        if (opts.failStop) throw new Error(`${name} cannot stop`);
      },
    );
  return { events, component };
}

describe('Lifecycle', () => {
  it('starts in order, then stops in reverse order', async () => {
    const { events, component } = recorder();
    const lifecycle = new Lifecycle(log);
    lifecycle.add(component('a'));
    lifecycle.add(component('b'));
    lifecycle.add(component('c'));
    await lifecycle.start();
    expect(lifecycle.status).toBe(LifecycleStatus.Running);
    await lifecycle.stop();
    expect(events).toEqual(['start a', 'start b', 'start c', 'stop c', 'stop b', 'stop a']);
    expect(lifecycle.status).toBe(LifecycleStatus.Stopped);
  });

  it('unwinds what started when a component fails to start, and rethrows', async () => {
    const { events, component } = recorder();
    const lifecycle = new Lifecycle(log);
    lifecycle.add(component('a'));
    lifecycle.add(component('b', { failStart: true }));
    lifecycle.add(component('c'));
    await expect(lifecycle.start()).rejects.toThrow('b cannot start');
    expect(events).toEqual(['start a', 'start b', 'stop b', 'stop a']);
    expect(lifecycle.status).toBe(LifecycleStatus.Failed);
  });

  it('stops every component even when one fails to stop, and stops only once', async () => {
    const { events, component } = recorder();
    const lifecycle = new Lifecycle(log);
    lifecycle.add(component('a'));
    lifecycle.add(component('b', { failStop: true }));
    await lifecycle.start();
    await Promise.all([lifecycle.stop(), lifecycle.stop()]);
    await lifecycle.stop();
    expect(events).toEqual(['start a', 'start b', 'stop b', 'stop a']);
  });

  it('runs afterStart hooks once everything is running', async () => {
    const lifecycle = new Lifecycle(log);
    const seen: LifecycleStatus[] = [];
    lifecycle.add({
      name: 'x',
      start: async () => undefined,
      stop: async () => undefined,
      afterStart: () => void seen.push(lifecycle.status),
    });
    await lifecycle.start();
    expect(seen).toEqual([LifecycleStatus.Running]);
  });

  it('refuses to start twice or to add after start', async () => {
    const lifecycle = new Lifecycle(log);
    await lifecycle.start();
    await expect(lifecycle.start()).rejects.toThrow(/running/);
    expect(() => lifecycle.add(startable('late', async () => undefined))).toThrow(/running/);
  });
});
