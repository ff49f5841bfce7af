import { z } from 'zod';

/** One bad environment variable. */
export interface ConfigIssue {
  key: string;
  message: string;
}

/** Startup configuration is invalid; lists every bad key, not just the first. */
export class ConfigError extends Error {
  constructor(readonly issues: ConfigIssue[]) {
    super(`invalid configuration:\n${issues.map((i) => `  ${i.key}: ${i.message}`).join('\n')}`);
    this.name = 'ConfigError';
  }
}

const DURATION_UNITS_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/** "250ms", "5s", "12h", "1d", or a bare integer meaning milliseconds. Undefined when malformed. */
export function parseDuration(text: string): number | undefined {
  const match = /^\s*(\d+)\s*(ms|s|m|h|d)?\s*$/.exec(text);
  if (!match) return undefined;
  const value = Number(match[1]) * (DURATION_UNITS_MS[match[2] ?? 'ms'] ?? 1);
  return Number.isSafeInteger(value) ? value : undefined;
}

const SIZE_UNITS: Record<string, number> = { b: 1, kib: 1024, mib: 1024 ** 2, gib: 1024 ** 3 };

/** "64KiB", "500MiB", or a bare integer meaning bytes. Undefined when malformed. */
export function parseSize(text: string): number | undefined {
  const match = /^\s*(\d+)\s*(b|kib|mib|gib)?\s*$/i.exec(text);
  if (!match) return undefined;
  const value = Number(match[1]) * (SIZE_UNITS[(match[2] ?? 'b').toLowerCase()] ?? 1);
  return Number.isSafeInteger(value) ? value : undefined;
}

type Ctx = z.core.$RefinementCtx<string | undefined>;

function fail(ctx: Ctx, message: string): never {
  ctx.addIssue({ code: 'custom', message });
  return z.NEVER;
}

/**
 * Field builders for environment variables. Each takes the raw string (or undefined when unset),
 * applies the default, and turns a malformed value into an issue naming what was expected.
 */
export const envField = {
  string: (def: string) =>
    z
      .string()
      .optional()
      .transform((v) => v ?? def),

  /** A string that may be unset. */
  optionalString: () =>
    z
      .string()
      .optional()
      .transform((v) => (v === undefined || v === '' ? undefined : v)),

  int: (def: number, bounds: { min?: number; max?: number } = {}) =>
    z
      .string()
      .optional()
      .transform((v, ctx) => {
        if (v === undefined || v === '') return def;
        if (!/^-?\d+$/.test(v.trim())) return fail(ctx, `expected an integer, got "${v}"`);
        const n = Number(v);
        if (bounds.min !== undefined && n < bounds.min) return fail(ctx, `must be >= ${bounds.min}, got ${n}`);
        if (bounds.max !== undefined && n > bounds.max) return fail(ctx, `must be <= ${bounds.max}, got ${n}`);
        return n;
      }),

  /** Milliseconds. */
  duration: (def: string, bounds: { min?: number } = {}) =>
    z
      .string()
      .optional()
      .transform((v, ctx) => {
        const ms = parseDuration(v === undefined || v === '' ? def : v);
        if (ms === undefined) {
          return fail(ctx, `expected a duration such as 250ms, 5s, 12h or a number of milliseconds, got "${v}"`);
        }
        if (bounds.min !== undefined && ms < bounds.min) return fail(ctx, `must be at least ${bounds.min}ms`);
        return ms;
      }),

  /** Bytes. */
  size: (def: string) =>
    z
      .string()
      .optional()
      .transform((v, ctx) => {
        const bytes = parseSize(v === undefined || v === '' ? def : v);
        if (bytes === undefined)
          return fail(ctx, `expected a size such as 64KiB, 500MiB or a number of bytes, got "${v}"`);
        return bytes;
      }),

  bool: (def: boolean) =>
    z
      .string()
      .optional()
      .transform((v, ctx) => {
        if (v === undefined || v === '') return def;
        const s = v.trim().toLowerCase();
        if (['1', 'true', 'yes', 'on'].includes(s)) return true;
        if (['0', 'false', 'no', 'off'].includes(s)) return false;
        return fail(ctx, `expected true or false, got "${v}"`);
      }),

  oneOf: <const T extends readonly string[]>(values: T, def: T[number]) =>
    z
      .string()
      .optional()
      .transform((v, ctx): T[number] => {
        if (v === undefined || v === '') return def;
        if ((values as readonly string[]).includes(v)) return v;
        return fail(ctx, `expected one of ${values.join(', ')}, got "${v}"`);
      }),

  /** Comma-separated list; empty entries are ignored. */
  list: (def: readonly string[] = []) =>
    z
      .string()
      .optional()
      .transform((v) =>
        v === undefined
          ? [...def]
          : v
              .split(',')
              .map((s) => s.trim())
              .filter((s) => s.length > 0),
      ),

  url: (def: string, protocols: readonly string[]) =>
    z
      .string()
      .optional()
      .transform((v, ctx) => {
        const text = v === undefined || v === '' ? def : v;
        let url: URL;
        try {
          url = new URL(text);
        } catch {
          return fail(ctx, `expected a URL, got "${text}"`);
        }
        if (!protocols.includes(url.protocol.replace(/:$/, ''))) {
          return fail(ctx, `expected a ${protocols.join(' or ')} URL, got "${url.protocol}"`);
        }
        return text;
      }),
};

/**
 * Parses `env` with a schema whose keys are environment variable names. Throws ConfigError listing
 * every bad key. The result is deeply frozen: configuration never changes after startup.
 */
export function parseEnv<S extends z.ZodObject>(schema: S, env: NodeJS.ProcessEnv): z.output<S> {
  const picked: Record<string, string | undefined> = {};
  for (const key of Object.keys(schema.shape)) picked[key] = env[key];
  const result = schema.safeParse(picked);
  if (!result.success) {
    const issues = result.error.issues.map((issue) => ({
      key: issue.path.map(String).join('.') || '(config)',
      message: issue.message,
    }));
    throw new ConfigError(issues);
  }
  return deepFreeze(result.data);
}

export function deepFreeze<T>(value: T): T {
  if (value && typeof value === 'object' && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const child of Object.values(value as Record<string, unknown>)) deepFreeze(child);
  }
  return value;
}
