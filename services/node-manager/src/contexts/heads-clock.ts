import { errorMessage, type Logger } from '@cnode/runtime';
import type { HlcClock } from '@cnode/primitives';
import type { StateStore } from '@cnode/store';

/**
 * Moves the node's clock past the newest HLC among a context's heads before a local write stamps
 * its actions, so a write orders after everything applied here (remote deltas included, which
 * another process applied). One read per context at a time: calls that arrive while it runs share
 * it (under load, hundreds of Executes on one context cost one query, not one each). The map holds
 * only reads in flight.
 */
export class HeadsClock {
  private readonly inFlight = new Map<string, Promise<void>>();

  constructor(private readonly deps: { states: () => StateStore; clock: HlcClock; logger: Logger }) {}

  follow(contextId: Buffer): Promise<void> {
    const key = contextId.toString('hex');
    let read = this.inFlight.get(key);
    if (!read) {
      read = this.read(contextId).finally(() => this.inFlight.delete(key));
      this.inFlight.set(key, read);
    }
    return read;
  }

  private async read(contextId: Buffer): Promise<void> {
    const past = await this.deps.states().headsHlc(contextId);
    if (!past) return;
    try {
      this.deps.clock.update(past);
    } catch (err) {
      // Only if our wall clock jumped back by more than the drift bound: write with our own clock.
      this.deps.logger.warn({ err: errorMessage(err) }, 'The context is ahead of our clock');
    }
  }
}
