import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { SUPERVISED_ENV, backoffMs } from '@cnode/runtime';
import { formatLogLine } from './log-format.js';

/** Restart backoff: doubles (jittered) from the first delay to the cap; resets after a stable run. */
const RESTART_DELAY_FIRST_MS = 1_000;
const RESTART_DELAY_MAX_MS = 30_000;
const STABLE_RUN_MS = 30_000;
/** A service that exits this many times before it ever started is given up on (and the launcher stops). */
export const FAILED_STARTS_BEFORE_GIVING_UP = 3;

export interface ProcessSpec {
  label: string;
  script: string;
  env: NodeJS.ProcessEnv;
  cwd: string;
}

/**
 * Runs one service process: its output goes to our stdout prefixed with its label; when it exits
 * on its own it is restarted with exponential backoff; stop() sends SIGTERM and resolves on exit.
 */
export class SupervisedProcess {
  private child: ChildProcess | undefined;
  private stopping = false;
  private restarts = 0;
  private restartTimer: NodeJS.Timeout | undefined;
  private exited: Promise<void> = Promise.resolve();
  /** Whether the service ever reported started (until then, an exit counts as a failed start). */
  private everStarted = false;
  private failedStarts = 0;

  constructor(
    private readonly spec: ProcessSpec,
    private readonly write: (line: string) => void,
    /** Called when the service failed to start FAILED_STARTS_BEFORE_GIVING_UP times in a row. */
    private readonly onGaveUp?: (label: string) => void,
  ) {}

  get pid(): number | undefined {
    return this.child?.pid;
  }

  start(): void {
    const startedAt = Date.now();
    const child = spawn(process.execPath, [this.spec.script], {
      cwd: this.spec.cwd,
      env: { ...this.spec.env, [SUPERVISED_ENV]: '1' },
      // stdin stays open while we live: if the launcher dies (even SIGKILL) the child sees it close
      // and stops itself.
      stdio: ['pipe', 'pipe', 'pipe'],
      // Own process group: a terminal Ctrl-C reaches only the launcher, which stops services in order.
      detached: true,
    });
    this.child = child;
    const prefix = `${this.spec.label} │ `;
    this.write(`${prefix}started (pid ${child.pid})`);
    for (const stream of [child.stdout, child.stderr]) {
      createInterface({ input: stream }).on('line', (line) => {
        if (line.includes('"msg":"Service started"')) this.everStarted = true;
        this.write(prefix + formatLogLine(line));
      });
    }
    this.exited = new Promise((resolve) => {
      child.on('exit', (code, signal) => {
        this.child = undefined;
        resolve();
        if (this.stopping) return;
        if (!this.everStarted) this.failedStarts++;
        if (!this.everStarted && this.failedStarts >= FAILED_STARTS_BEFORE_GIVING_UP) {
          this.write(
            `${prefix}exited (${signal ?? `code ${code}`}) ${this.failedStarts} times without starting; giving up`,
          );
          this.onGaveUp?.(this.spec.label.trim());
          return;
        }
        if (Date.now() - startedAt > STABLE_RUN_MS) this.restarts = 0;
        const delay = backoffMs(this.restarts, RESTART_DELAY_FIRST_MS, RESTART_DELAY_MAX_MS);
        this.restarts++;
        this.write(`${prefix}exited (${signal ?? `code ${code}`}); restarting in ${delay / 1000}s`);
        this.restartTimer = setTimeout(() => this.start(), delay);
      });
    });
  }

  /** SIGTERM, then resolve once the process has exited (or at once if it is not running). */
  async stop(): Promise<void> {
    this.stopping = true;
    clearTimeout(this.restartTimer);
    this.child?.kill('SIGTERM');
    await this.exited;
  }

  kill(): void {
    this.stopping = true;
    clearTimeout(this.restartTimer);
    this.child?.kill('SIGKILL');
  }
}
