import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { chownSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { waitFor } from '@cnode/testing';

/**
 * NATS and Postgres instances of the chaos suite's own, under a temporary directory: the suite
 * kills and restarts them, which it must never do to the machine's shared ones.
 */

/**
 * A port for a server (a node, NATS, Postgres) to listen on for good, below the ephemeral range (32768 and up on Linux):
 * a port from that range may be taken as the local port of some outbound connection while its
 * service is down, and the restarted service could not listen on it again.
 */
export async function freeListenPort(): Promise<number> {
  for (let attempt = 0; attempt < 100; attempt++) {
    const port = 20_000 + Math.floor(Math.random() * 10_000);
    const server = createServer();
    const ok = await new Promise<boolean>((resolve) => {
      server.once('error', () => resolve(false));
      server.listen(port, '127.0.0.1', () => resolve(true));
    });
    if (ok) {
      await new Promise<void>((resolve) => server.close(() => resolve()));
      return port;
    }
  }
  throw new Error('no free port between 20000 and 30000');
}

function binary(name: string, candidates: string[]): string {
  for (const path of candidates) {
    if (spawnSync('test', ['-x', path]).status === 0) return path;
  }
  const found = spawnSync('bash', ['-c', `command -v ${name}`], { encoding: 'utf8' }).stdout.trim();
  if (!found)
    throw new Error(
      `${name} is not installed (Debian: apt-get install ${name === 'nats-server' ? 'nats-server' : 'postgresql'})`,
    );
  return found;
}

async function tcpAnswers(port: number): Promise<boolean> {
  const { connect } = await import('node:net');
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

/** A NATS server with JetStream; `restart` kills it (SIGKILL) and starts it again on its store. */
export class PrivateNats {
  private proc: ChildProcess | undefined;
  restarts = 0;

  private constructor(
    private readonly dir: string,
    readonly port: number,
  ) {}

  get url(): string {
    return `nats://127.0.0.1:${this.port}`;
  }

  static async start(): Promise<PrivateNats> {
    const dir = mkdtempSync(join(tmpdir(), 'cnode-chaos-nats-'));
    const nats = new PrivateNats(dir, await freeListenPort());
    writeFileSync(
      join(dir, 'nats.conf'),
      `listen: "127.0.0.1:${nats.port}"\nmax_payload: 8MB\njetstream { store_dir: "${join(dir, 'store')}" }\n`,
    );
    await nats.launch();
    return nats;
  }

  private async launch(): Promise<void> {
    const bin = binary('nats-server', ['/usr/sbin/nats-server', '/usr/bin/nats-server']);
    this.proc = spawn(bin, ['-c', join(this.dir, 'nats.conf'), '-l', join(this.dir, 'nats.log')], { stdio: 'ignore' });
    await waitFor(() => tcpAnswers(this.port), { timeoutMs: 20_000, message: 'the private NATS to listen' });
  }

  async restart(downMs = 0): Promise<void> {
    await this.kill();
    if (downMs > 0) await new Promise((r) => setTimeout(r, downMs));
    await this.launch();
    this.restarts++;
  }

  private async kill(): Promise<void> {
    const proc = this.proc;
    if (!proc || proc.exitCode !== null || proc.signalCode !== null) return;
    const exited = new Promise((resolve) => proc.once('exit', resolve));
    proc.kill('SIGKILL');
    await exited;
  }

  async stop(): Promise<void> {
    await this.kill();
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/**
 * A Postgres cluster of its own (initdb as the `postgres` user when we are root). `restart` stops it
 * immediately (no shutdown checkpoint: a crash of the server process) and starts it. fsync and full
 * page writes are off: they only matter when the machine itself fails, which the suite never does;
 * commits stay synchronous, so an acknowledged commit survives the crash as in production
 * (`synchronous_commit=off` may lose the last acknowledged commits in a crash: not our contract).
 */
export class PrivatePostgres {
  restarts = 0;

  private constructor(
    private readonly dir: string,
    readonly port: number,
    private readonly bin: string,
  ) {}

  get url(): string {
    return `postgres://postgres@127.0.0.1:${this.port}/postgres`;
  }

  static async start(): Promise<PrivatePostgres> {
    const initdb = binary('initdb', [...postgresBinDirs().map((d) => join(d, 'initdb'))]);
    const bin = initdb.slice(0, -'/initdb'.length);
    const dir = mkdtempSync(join(tmpdir(), 'cnode-chaos-pg-'));
    mkdirSync(join(dir, 'data'));
    const pg = new PrivatePostgres(dir, await freeListenPort(), bin);
    pg.chownToPostgres();
    pg.run(join(bin, 'initdb'), ['-D', join(dir, 'data'), '-U', 'postgres', '--auth=trust', '-E', 'UTF8']);
    await pg.launch();
    return pg;
  }

  /** Runs a Postgres tool, as the `postgres` user when we are root (Postgres refuses to run as root). */
  private run(cmd: string, args: string[]): void {
    const asRoot = process.getuid?.() === 0;
    const result = asRoot
      ? spawnSync('runuser', ['-u', 'postgres', '--', cmd, ...args], { encoding: 'utf8' })
      : spawnSync(cmd, args, { encoding: 'utf8' });
    if (result.status !== 0) throw new Error(`${cmd} failed: ${result.stderr || result.stdout}`);
  }

  private chownToPostgres(): void {
    if (process.getuid?.() !== 0) return;
    const id = spawnSync('id', ['-u', 'postgres'], { encoding: 'utf8' }).stdout.trim();
    const gid = spawnSync('id', ['-g', 'postgres'], { encoding: 'utf8' }).stdout.trim();
    for (const path of [this.dir, join(this.dir, 'data')]) chownSync(path, Number(id), Number(gid));
  }

  private async launch(): Promise<void> {
    const options = [
      `-p ${this.port}`,
      `-k ${this.dir}`,
      '-c listen_addresses=127.0.0.1',
      '-c fsync=off',
      '-c full_page_writes=off',
      '-c max_connections=600',
    ].join(' ');
    this.run(join(this.bin, 'pg_ctl'), [
      '-D',
      join(this.dir, 'data'),
      '-l',
      join(this.dir, 'pg.log'),
      '-o',
      options,
      '-w',
      'start',
    ]);
    await waitFor(() => tcpAnswers(this.port), { timeoutMs: 20_000, message: 'the private Postgres to listen' });
  }

  async restart(downMs = 0): Promise<void> {
    this.run(join(this.bin, 'pg_ctl'), ['-D', join(this.dir, 'data'), '-m', 'immediate', '-w', 'stop']);
    if (downMs > 0) await new Promise((r) => setTimeout(r, downMs));
    await this.launch();
    this.restarts++;
  }

  async stop(): Promise<void> {
    try {
      this.run(join(this.bin, 'pg_ctl'), ['-D', join(this.dir, 'data'), '-m', 'immediate', '-w', 'stop']);
    } finally {
      rmSync(this.dir, { recursive: true, force: true });
    }
  }
}

function postgresBinDirs(): string[] {
  const result = spawnSync('bash', ['-c', 'ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V -r'], {
    encoding: 'utf8',
  });
  return result.stdout.split('\n').filter(Boolean);
}
