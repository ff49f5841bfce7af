import type { Logger } from 'pino';
import { errorMessage } from './errors.js';

const SIGNALS: NodeJS.Signals[] = ['SIGTERM', 'SIGINT'];

/**
 * The first SIGTERM/SIGINT runs `stop` and exits 0 when it finishes (1 when it throws). If it has
 * not finished after `deadlineMs`, or a second signal arrives, the process exits 1 at once.
 */
export function onGracefulShutdown(stop: () => Promise<void>, log: Logger, deadlineMs: number): void {
  let stopping = false;
  const handler = (signal: NodeJS.Signals): void => {
    if (stopping) {
      log.warn({ signal }, 'Second signal received, exiting now');
      process.exit(1);
    }
    stopping = true;
    log.info({ signal, deadlineMs }, 'Shutting down');
    const timer = setTimeout(() => {
      log.error({ deadlineMs }, 'Shutdown deadline passed, exiting now');
      process.exit(1);
    }, deadlineMs);
    timer.unref();
    stop().then(
      () => {
        log.info('Stopped');
        process.exit(0);
      },
      (err: unknown) => {
        log.error({ err: errorMessage(err) }, 'Shutdown failed');
        process.exit(1);
      },
    );
  };
  for (const signal of SIGNALS) process.on(signal, handler);
}
