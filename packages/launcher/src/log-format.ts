const LEVEL_NAMES = new Set(['trace', 'debug', 'info', 'warn', 'error', 'fatal']);
const OMIT = new Set(['level', 'time', 'msg', 'service', 'node', 'version', 'pid', 'hostname']);

/**
 * One service log line for a terminal: `HH:MM:SS LEVEL message key=value …`. Lines that are not
 * pino JSON pass through unchanged.
 */
export function formatLogLine(line: string): string {
  if (!line.startsWith('{')) return line;
  let entry: Record<string, unknown>;
  try {
    entry = JSON.parse(line) as Record<string, unknown>;
  } catch {
    return line;
  }
  const level = typeof entry.level === 'string' && LEVEL_NAMES.has(entry.level) ? entry.level : 'info';
  const time = typeof entry.time === 'string' ? entry.time.slice(11, 19) : '';
  const fields = Object.entries(entry)
    .filter(([key]) => !OMIT.has(key))
    .map(([key, value]) => `${key}=${typeof value === 'string' ? value : JSON.stringify(value)}`);
  return [time, level.toUpperCase().padEnd(5), typeof entry.msg === 'string' ? entry.msg : '', ...fields]
    .join(' ')
    .trim();
}
