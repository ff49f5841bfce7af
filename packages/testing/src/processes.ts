import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { createInterface } from 'node:readline';

/** The repository root, for spawning built entry points. */
export const REPO_ROOT = fileURLToPath(new URL('../../../', import.meta.url));

/** Fails with a clear message when a built entry point is missing (run `npm run build`). */
export function builtEntry(relative: string): string {
  const path = `${REPO_ROOT}${relative}`;
  if (!existsSync(path)) throw new Error(`${relative} is not built: run 'npm run build' first`);
  return path;
}

export interface SpawnedProcess {
  child: ChildProcess;
  /** Every stdout and stderr line so far. */
  lines: string[];
  /** Resolves with the exit code (or the signal name) when the process ends. */
  exited: Promise<number | string>;
  /** Resolves with the first line matching, or rejects after `timeoutMs`. */
  waitForLine(pattern: RegExp, timeoutMs?: number): Promise<string>;
}

/** Spawns `node <script> …args` from the repository root, collecting its output lines. */
export function spawnNode(
  script: string,
  args: string[],
  env: NodeJS.ProcessEnv,
  opts: { detached?: boolean } = {},
): SpawnedProcess {
  const child = spawn(process.execPath, [script, ...args], {
    cwd: REPO_ROOT,
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: opts.detached ?? false,
  });
  const lines: string[] = [];
  const listeners = new Set<(line: string) => void>();
  for (const stream of [child.stdout, child.stderr]) {
    createInterface({ input: stream }).on('line', (line) => {
      lines.push(line);
      for (const listener of listeners) listener(line);
    });
  }
  const exited = new Promise<number | string>((resolve) =>
    child.on('exit', (code, signal) => resolve(code ?? signal ?? 'unknown')),
  );
  const waitForLine = (pattern: RegExp, timeoutMs = 30_000): Promise<string> =>
    new Promise((resolve, reject) => {
      const seen = lines.find((l) => pattern.test(l));
      if (seen) return resolve(seen);
      const timer = setTimeout(() => {
        listeners.delete(listener);
        reject(new Error(`no line matching ${pattern} within ${timeoutMs}ms; output:\n${lines.slice(-30).join('\n')}`));
      }, timeoutMs);
      const listener = (line: string): void => {
        if (!pattern.test(line)) return;
        clearTimeout(timer);
        listeners.delete(listener);
        resolve(line);
      };
      listeners.add(listener);
      void exited.then(() => {
        if (!listeners.has(listener)) return;
        clearTimeout(timer);
        listeners.delete(listener);
        reject(new Error(`process exited before a line matching ${pattern}; output:\n${lines.slice(-30).join('\n')}`));
      });
    });
  return { child, lines, exited, waitForLine };
}

/** True while a process with this pid exists. */
export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}
