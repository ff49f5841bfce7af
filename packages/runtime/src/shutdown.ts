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
  // Started by a supervisor (the launcher) that holds our stdin: when it goes away, however it
  // died, the pipe closes and we stop too, so no service outlives its launcher.
  if (process.env[SUPERVISED_ENV] === '1') {
    let gone = false;
    const supervisorGone = (): void => {
      if (gone) return;
      gone = true;
      handler('SIGTERM');
    };
    process.stdin.on('data', () => undefined);
    process.stdin.once('end', supervisorGone);
    process.stdin.once('close', supervisorGone);
  }
}

/** Set by a supervisor that keeps the child's stdin open for as long as it lives. */
export const SUPERVISED_ENV = 'CNODE_SUPERVISED';
