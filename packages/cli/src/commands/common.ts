import { CliError } from '../endpoint.js';

/** The positional arguments, or a usage error when fewer than `n` were given. */
export function need(args: string[], n: number, usage: string): string[] {
  if (args.length < n) throw new CliError(`usage: cnode ${usage}`);
  return args;
}

/** Prints a result as JSON (bigints as strings, bytes as base64) with --json, else as text. */
export function printer(json: boolean, write: (text: string) => void): (value: unknown, text: string) => void {
  return (value, text) =>
    write(
      json
        ? `${JSON.stringify(
            value,
            (_k, v: unknown) =>
              typeof v === 'bigint' ? v.toString() : v instanceof Uint8Array ? Buffer.from(v).toString('base64') : v,
            2,
          )}\n`
        : text,
    );
}
