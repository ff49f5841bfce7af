import { UsageError } from '../endpoint.js';

/** The positional arguments, or a usage error when fewer than `n` were given. */
export function need(args: string[], n: number, usage: string): string[] {
  if (args.length < n) throw new UsageError(`usage: cnode ${usage}`);
  return args;
}

/**
 * Prints a result as JSON with --json, else as text. A protobuf message is best given with its
 * `toJSON` (enums then print as names, not numbers); otherwise bigints print as strings and bytes as
 * base64. `lines`: one compact object per line (JSON Lines, for streams).
 */
export function printer(
  json: boolean,
  write: (text: string) => void,
  opts: { lines?: boolean } = {},
): <T>(value: T, text: string, toJSON?: (value: T) => unknown) => void {
  return (value, text, toJSON) =>
    write(
      json
        ? `${JSON.stringify(
            toJSON ? toJSON(value) : value,
            (_k, v: unknown) =>
              typeof v === 'bigint' ? v.toString() : v instanceof Uint8Array ? Buffer.from(v).toString('base64') : v,
            opts.lines ? undefined : 2,
          )}\n`
        : text,
    );
}
