/** The command line of a benchmark: `--name N` numbers and `--flag` switches. */
const argv = process.argv.slice(2);

/** The number after `--name`, or `fallback` when it is not given. */
export function numberOption(name: string, fallback: number): number {
  const i = argv.indexOf(name);
  return i >= 0 ? Number(argv[i + 1]) : fallback;
}

/** Whether `--name` is given. */
export function flag(name: string): boolean {
  return argv.includes(name);
}
