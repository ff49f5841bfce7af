import { pino, type Logger, type LevelWithSilent } from 'pino';

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
