import { pino, type Logger, type LevelWithSilent } from 'pino';
import { BoundedCache } from './bounded-cache.js';

export type { Logger } from 'pino';

export interface LoggerOptions {
  service: string;
  node: string;
  level: LevelWithSilent;
  version?: string;
}

/**
 * The root logger of a process: JSON lines on stdout with `{service, node}` on every line.
 * Modules take `logger.child({ module: '...' })`. Messages are constant strings; data goes in fields.
 */
export function createLogger(opts: LoggerOptions): Logger {
  return pino({
    level: opts.level,
    base: { service: opts.service, node: opts.node, ...(opts.version ? { version: opts.version } : {}) },
    timestamp: pino.stdTimeFunctions.isoTime,
    // Secrets never reach a log line, whatever a caller passes.
    redact: { paths: ['*.privateKey', '*.masterKey', '*.token', 'token', 'privateKey'], censor: '[redacted]' },
    formatters: { level: (label) => ({ level: label }) },
  });
}

/**
 * Holds back repeats of a log line that a peer can provoke at will (a refused message, a rejected
 * frame): one line per key per interval, and the next line that passes says how many were held
 * back (`suppressed`). Whatever is held back is still counted by its own metric. Keys are bounded
 * (the least recently logged are forgotten first).
 */
export class LogThrottle {
  /** Per key: when its last line went out, and how many were held back since. */
  private readonly last: BoundedCache<string, { atMs: number; suppressed: number }>;

  constructor(
    private readonly intervalMs = 10_000,
    maxKeys = 1024,
    private readonly now: () => number = Date.now,
  ) {
    this.last = new BoundedCache('log_throttle', maxKeys);
  }

  /** Logs `msg` at `level` with `fields` unless a line of `key` went out within the interval. */
  log(
    logger: Logger,
    level: 'warn' | 'info' | 'error',
    key: string,
    fields: Record<string, unknown>,
    msg: string,
  ): void {
    const now = this.now();
    const seen = this.last.get(key);
    if (seen && now - seen.atMs < this.intervalMs) {
      seen.suppressed++;
      return;
    }
    this.last.set(key, { atMs: now, suppressed: 0 });
    logger[level](seen?.suppressed ? { ...fields, suppressed: seen.suppressed } : fields, msg);
  }
}
