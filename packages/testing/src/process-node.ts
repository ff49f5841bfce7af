import { randomBytes } from 'node:crypto';
import { createWriteStream, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { createCatalog } from '@cnode/bus';
import { AdminApi } from '@cnode/cli';
import postgres from 'postgres';
import { fromBase58 } from '@cnode/primitives';
import { GroupStore, IdentityRepo, StateStore } from '@cnode/store';
import { TEST_INFRA, testEnv, uniqueNodeName, cleanupNode } from './infra.js';
import { builtEntry, spawnNode, type SpawnedProcess } from './processes.js';
import { waitFor } from './wait-for.js';

export const NODE_SERVICES = ['network', 'node-manager', 'sync', 'state-delta', 'gc'] as const;
export type NodeServiceName = (typeof NODE_SERVICES)[number];

/**
 * A whole node as operators run it: each service a built entry point in its own process, sharing
 * the test NATS, Postgres and Redis under a fresh node namespace. Services can be killed, restarted
 * and scaled one by one; `api` talks to the node's admin gRPC API.
 */
export class ProcessNode {
  readonly procs = new Map<string, SpawnedProcess>();
  private replicaCount = 0;
  api!: AdminApi;
  /** host:port of the admin gRPC API (for a client of its own, e.g. with a longer deadline). */
  adminAddress!: string;

  private constructor(
    readonly name: string,
    readonly env: NodeJS.ProcessEnv,
  ) {}

  static async start(opts: { env?: NodeJS.ProcessEnv; prefix?: string } = {}): Promise<ProcessNode> {
    const name = uniqueNodeName(opts.prefix ?? 'n');
    const env = testEnv(name, { LOG_LEVEL: 'info', ADMIN_TOKEN: randomBytes(16).toString('hex'), ...opts.env });
    const node = new ProcessNode(name, env);
    await node.startServices();
    return node;
  }

  /** Starts every service (network first: the others ask it for the peer id as they start). */
  async startServices(): Promise<void> {
    await this.startService('network');
    await Promise.all(NODE_SERVICES.filter((s) => s !== 'network').map((s) => this.startService(s)));
  }

  /** Points `api` at the admin address node-manager wrote as it started (a new port after each start). */
  private connectAdmin(): void {
    const endpoint = JSON.parse(readFileSync(join(this.env.NODE_HOME!, 'admin.json'), 'utf8')) as { address: string };
    this.api?.close();
    this.adminAddress = endpoint.address;
    this.api = new AdminApi({ address: endpoint.address, token: this.env.ADMIN_TOKEN! });
  }

  /** Base URL of the node's app API (`http://host:port`), from the file node-manager writes at start. */
  get appApiUrl(): string {
    const endpoint = JSON.parse(readFileSync(join(this.env.NODE_HOME!, 'app-api.json'), 'utf8')) as {
      address: string;
    };
    return `http://${endpoint.address}`;
  }

  /** Stops every service gracefully and keeps the node's data: the node is down until startServices. */
  async stopServices(): Promise<void> {
    await Promise.all(NODE_SERVICES.map((s) => this.kill(s, 'SIGTERM')));
  }

  /** The node's Postgres schema (tests that simulate lost state reach into it). */
  get schema(): string {
    return createCatalog(this.name).postgres.schema;
  }

  /** Starts (or restarts) one service process and waits until it reports started. */
  async startService(
    service: NodeServiceName,
    key: string = service,
    env: NodeJS.ProcessEnv = {},
  ): Promise<SpawnedProcess> {
    const proc = spawnNode(builtEntry(`services/${service}/dist/main.js`), [], { ...this.env, ...env });
    this.procs.set(key, proc);
    this.keepLog(key, proc);
    await proc.waitForLine(/"msg":"Service started"/, 60_000);
    if (service === 'node-manager' && key === service) this.connectAdmin();
    return proc;
  }

  /**
   * With CNODE_TEST_LOG_DIR set, every process's output is appended to `<dir>/<node>-<key>.log`
   * (restarts included), to read after a failed run.
   */
  private keepLog(key: string, proc: SpawnedProcess): void {
    const dir = process.env.CNODE_TEST_LOG_DIR;
    if (!dir) return;
    mkdirSync(dir, { recursive: true });
    const file = createWriteStream(join(dir, `${this.name}-${key}.log`), { flags: 'a' });
    proc.child.stdout?.pipe(file, { end: false });
    proc.child.stderr?.pipe(file, { end: false });
    // 'close', not 'exit': output may still arrive after the process exited.
    proc.child.once('close', () => file.end());
  }

  /** Another replica of a service (e.g. a second state-delta consuming the same queue). */
  async addReplica(service: NodeServiceName): Promise<string> {
    const key = `${service}#${++this.replicaCount}`;
    await this.startService(service, key);
    return key;
  }

  /** Sends a signal to a service process and waits for it to exit. */
  async kill(key: string, signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
    const proc = this.procs.get(key);
    if (!proc || proc.child.exitCode !== null) return;
    proc.child.kill(signal);
    await proc.exited;
  }

  /** host:port of a service process's health and metrics server. */
  httpAddress(key: string): string {
    const proc = this.procs.get(key);
    const line = proc?.lines.findLast((l) => l.includes('"msg":"Service started"'));
    const http = line && (JSON.parse(line) as { http?: string }).http;
    if (!http) throw new Error(`${key} has not started`);
    return http;
  }

  /** The /metrics text of a service process. */
  async metricsText(key: string): Promise<string> {
    return (await fetch(`http://${this.httpAddress(key)}/metrics`)).text();
  }

  /** Whether a service process answers /readyz with 200. */
  async isReady(key: string): Promise<boolean> {
    const res = await fetch(`http://${this.httpAddress(key)}/readyz`, { signal: AbortSignal.timeout(2_000) });
    await res.arrayBuffer();
    return res.status === 200;
  }

  /** The value of a metric sample exposed on a service's /metrics (0 when absent), summed over matches. */
  async metric(key: string, name: string, labels: Record<string, string> = {}): Promise<number> {
    const text = await this.metricsText(key);
    let total = 0;
    for (const row of text.split('\n')) {
      if (!row.startsWith(`${name}{`) && !row.startsWith(`${name} `)) continue;
      const labelText = row.slice(name.length).split(' ')[0] ?? '';
      if (Object.entries(labels).every(([k, v]) => labelText.includes(`${k}="${v}"`)))
        total += Number(row.split(' ').at(-1));
    }
    return total;
  }

  /**
   * A context of `application` shared by `nodes`: created on the first, every other one invited
   * with a fresh identity and joined; resolves once each holds the state and sees the others.
   * `members`: each node's member identity (base58), in node order.
   */
  static async sharedContext(
    nodes: readonly ProcessNode[],
    application = '',
  ): Promise<{ contextId: string; members: string[] }> {
    const [first, ...rest] = nodes;
    if (!first) throw new Error('sharedContext needs a node');
    const created = await first.api.createContext({ application });
    const members = [created.member];
    for (const node of rest) {
      const { publicKey } = await node.api.createIdentity();
      await node.api.joinContext((await first.api.inviteMember(created.contextId, publicKey)).invitationText);
      members.push(publicKey);
    }
    await Promise.all(nodes.map((n) => n.waitForState(created.contextId)));
    await Promise.all(nodes.map((n) => n.waitForPeers(created.contextId, nodes.length - 1)));
    return { contextId: created.contextId, members };
  }

  async waitForPeers(contextId: string, count: number, timeoutMs = 60_000): Promise<void> {
    await waitFor(async () => (await this.api.peersCount(contextId)) >= count, {
      timeoutMs,
      message: `${this.name} to see ${count} peers on ${contextId}`,
    });
  }

  /** Waits until the context has its state here (a joined context gets it from its first sync). */
  async waitForState(contextId: string, timeoutMs = 60_000): Promise<void> {
    await waitFor(async () => (await this.api.getContext(contextId)).initialized, {
      timeoutMs,
      message: `${this.name} to get the state of ${contextId}`,
    });
  }

  /**
   * Simulates lost state without lost history: `count` live entries of the context vanish from this
   * node's store (the first by key hash; all when count is undefined) and its tree and cached root
   * are refreshed, while its DAG heads stay. Only a state comparison can repair that.
   */
  async loseEntries(contextId: string, count?: number): Promise<number> {
    const sql = postgres(TEST_INFRA.databaseUrl, { max: 1, onnotice: () => undefined });
    try {
      return await sql.begin(async (tx) => {
        await tx`select set_config('search_path', ${this.schema}, true)`;
        const id = Buffer.from(fromBase58(contextId));
        const lost = await tx<{ bucket: string }[]>`
          delete from state_entries where context_id = ${id} and key in (
            select key from state_entries where context_id = ${id} and op_rank = 0
            order by key_hash limit ${count ?? null})
          returning bucket`;
        await tx`
          update contexts set root_hash = refresh_state_tree(${id}, ${[...new Set(lost.map((l) => l.bucket))]}::text[])
          where id = ${id}`;
        return lost.length;
      });
    } finally {
      await sql.end();
    }
  }

  /** Every live entry of a kv context, read page by page through the admin API. */
  async entries(contextId: string): Promise<Record<string, string>> {
    const all: Record<string, string> = {};
    let after: string | undefined;
    for (;;) {
      const { output } = await this.api.execute(contextId, 'entries', { limit: 1000, ...(after ? { after } : {}) });
      const page = output as { entries: { key: string; value: string }[]; next: string | null };
      for (const e of page.entries) all[e.key] = e.value;
      if (!page.next) return all;
      after = page.next;
    }
  }

  /**
   * Opens this node's store directly, as the node's own services would (same schema, master key):
   * tests that check what a node holds, or that play a member gone rogue with its own keys.
   */
  async withStore<T>(
    fn: (store: { sql: postgres.Sql; groups: GroupStore; identities: IdentityRepo; states: StateStore }) => Promise<T>,
  ): Promise<T> {
    const sql = postgres(TEST_INFRA.databaseUrl, {
      max: 2,
      onnotice: () => undefined,
      connection: { search_path: this.schema },
    });
    const masterKey = Buffer.from(this.env.NODE_MASTER_KEY!, 'hex');
    try {
      return await fn({
        sql,
        groups: new GroupStore(sql, masterKey),
        identities: new IdentityRepo(sql, masterKey),
        states: new StateStore(sql),
      });
    } finally {
      await sql.end();
    }
  }

  /** The structured (JSON) log lines of one service whose message is `msg`. */
  logged(key: string, msg: string): Record<string, unknown>[] {
    const out: Record<string, unknown>[] = [];
    for (const line of this.procs.get(key)?.lines ?? []) {
      if (!line.includes(msg)) continue;
      try {
        const entry = JSON.parse(line) as Record<string, unknown>;
        if (entry.msg === msg) out.push(entry);
      } catch {
        // Not a JSON line (a stack trace, a runtime warning).
      }
    }
    return out;
  }

  /** The last lines a service logged at warn level or above (for failure messages). */
  problems(key: string, n = 30): string {
    const lines = this.procs.get(key)?.lines ?? [];
    return lines
      .filter((l) => /"level":(40|50|60)/.test(l))
      .slice(-n)
      .join('\n');
  }

  /** Stops every process (SIGTERM, then SIGKILL after the grace period) and, unless kept, its data. */
  async stop(opts: { keepData?: boolean } = {}): Promise<void> {
    this.api?.close();
    await Promise.all(
      [...this.procs.values()].map(async (proc) => {
        if (proc.child.exitCode !== null || proc.child.signalCode !== null) return;
        proc.child.kill('SIGTERM');
        const timer = setTimeout(() => proc.child.kill('SIGKILL'), 10_000);
        await proc.exited;
        clearTimeout(timer);
      }),
    );
    if (!opts.keepData) await cleanupNode(this.name);
  }
}
