import type { Logger } from 'pino';
import { errorMessage } from './errors.js';

/** Something that is started once and stopped once. */
export interface Startable {
  /** Name used in logs. */
  readonly name: string;
  start(): Promise<void>;
  /** Runs once every component has started (e.g. to report readiness right away). */
  afterStart?(): void | Promise<void>;
  /** Must be safe to call after a failed or partial start. */
  stop(): Promise<void>;
}

export enum LifecycleStatus {
  Idle = 'idle',
  Starting = 'starting',
  Running = 'running',
  Stopping = 'stopping',
  Stopped = 'stopped',
  Failed = 'failed',
}

/**
 * Starts components in order and stops them in reverse. A failed start unwinds whatever already
 * started before rethrowing. `stop()` is memoised and isolates each component's errors, so one
 * failing close never leaves the others open.
 */
export class Lifecycle {
  private readonly components: Startable[] = [];
  private readonly started: Startable[] = [];
  private statusValue: LifecycleStatus = LifecycleStatus.Idle;
  private stopPromise: Promise<void> | undefined;

  constructor(private readonly log: Logger) {}

  get status(): LifecycleStatus {
    return this.statusValue;
  }

  /** Adds a component; components start in the order they were added. */
  add<T extends Startable>(component: T): T {
    if (this.statusValue !== LifecycleStatus.Idle) {
      throw new Error(`cannot add ${component.name}: lifecycle is ${this.statusValue}`);
    }
    this.components.push(component);
    return component;
  }

  async start(): Promise<void> {
    if (this.statusValue !== LifecycleStatus.Idle) {
      throw new Error(`cannot start: lifecycle is ${this.statusValue}`);
    }
    this.statusValue = LifecycleStatus.Starting;
    for (const component of this.components) {
      try {
        this.log.debug({ component: component.name }, 'Starting component');
        await component.start();
        this.started.push(component);
      } catch (err) {
        this.log.error({ component: component.name, err: errorMessage(err) }, 'Component failed to start');
        // The failing component may have half-started: stop it too.
        this.started.push(component);
        await this.stop();
        this.statusValue = LifecycleStatus.Failed;
        throw err;
      }
    }
    this.statusValue = LifecycleStatus.Running;
    for (const component of this.components) {
      try {
        await component.afterStart?.();
      } catch (err) {
        this.log.warn({ component: component.name, err: errorMessage(err) }, 'Component afterStart failed');
      }
    }
  }

  stop(): Promise<void> {
    this.stopPromise ??= this.stopAll();
    return this.stopPromise;
  }

  private async stopAll(): Promise<void> {
    this.statusValue = LifecycleStatus.Stopping;
    for (const component of [...this.started].reverse()) {
      try {
        this.log.debug({ component: component.name }, 'Stopping component');
        await component.stop();
      } catch (err) {
        this.log.warn({ component: component.name, err: errorMessage(err) }, 'Component failed to stop cleanly');
      }
    }
    this.started.length = 0;
    this.statusValue = LifecycleStatus.Stopped;
  }
}

/** A Startable from a start function and, when there is something to undo, a stop function. */
export function startable(
  name: string,
  start: () => Promise<void>,
  stop: () => Promise<void> = () => Promise.resolve(),
): Startable {
  return { name, start, stop };
}
