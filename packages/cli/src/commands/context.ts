import { status, type ServiceError } from '@grpc/grpc-js';
import { admin } from '@cnode/proto';
import { withAdminApi } from '../client.js';
import { need, printer } from './common.js';
import { CliError, UsageError, type Endpoint } from '../endpoint.js';

export const CONTEXT_USAGE = `  context create [--app kv] [--group G]
                                     create a context (in a new group with this node as admin, or in G)
  context list                       the contexts this node hosts
  context get CONTEXT                one context: root hash, heads, members, pending deltas
  context leave CONTEXT              unsubscribe and delete the context's local data
  context identity                   create a member identity to be invited with
  context invite CONTEXT PUBLIC_KEY  invite a member; prints the invitation to hand over
                                     (--key-from-peers: no key in it, the joiner gets it from a member)
  context join INVITATION            join with an invitation (text, or @file)
  context invite-specialized CONTEXT look for a read-only node to admit (it must answer with an
                                     attestation; mock ones only with ACCEPT_MOCK_TEE)
  context specialized-invites        pending specialized-node invites
  context call CONTEXT METHOD [JSON] run a method, e.g. set '{"key":"a","value":"1"}'
  context call-batch CONTEXT FILE    run the calls of a JSON Lines file (- for stdin), in order, in one
                                     request: {"method":"set","args":{…},"executor":"…"} per line
                                     (at most 1024); mutations commit together. Exit 1 if any failed
  context peers CONTEXT              peers subscribed to the context's topic
  context sync CONTEXT [PEER]        sync now (bypasses spacing and backoff)
  context status CONTEXT             sync status, and whether we agree with each peer (converged, behind, ahead, diverged, unknown) and why
  context watch [CONTEXT] [--from N] stream node events (Ctrl-C to stop)
  context update CONTEXT APP [--migrate METHOD] [--args JSON] [--force]
                                     move the context to the installed version of APP (admins; a newer
                                     version of the same package unless --force); METHOD of the new
                                     version runs once after the switch
`;

export interface ContextCommandOptions {
  app: string;
  /** `context create --group`: an existing group of ours. */
  group?: string;
  /** `context create --init`: JSON arguments of the application's init method. */
  init?: string;
  from: string;
  /** `context update --migrate`, `--args`, `--force`. */
  migrate?: string;
  migrateArgs?: string;
  force?: boolean;
  /** `context invite --key-from-peers`. */
  keyFromPeers?: boolean;
  json: boolean;
  timeoutMs: number;
  readFile: (path: string) => string;
  write: (text: string) => void;
}

function formatContext(c: admin.ContextInfo): string {
  return [
    `context   ${c.contextId}`,
    `group     ${c.groupId}`,
    `app       ${c.application}${c.applicationVersion ? ` ${c.applicationVersion}` : ''}`,
    `root      ${c.rootHash}`,
    `heads     ${c.heads.join(' ')}`,
    `members   ${c.memberCount} (ours: ${c.ownMembers.join(' ')})`,
    `pending   ${c.pendingDeltas}`,
    '',
  ].join('\n');
}

function formatEvent(e: admin.SubscribeEventsResponse): string {
  const ev = e.event;
  const head = `#${e.sequence} ${ev?.contextId ?? ''}`;
  switch (ev?.event?.$case) {
    case 'stateMutation': {
      const m = ev.event.stateMutation;
      // The application's events, one line each: kind and data (its JSON, as the app wrote it).
      const events = m.events.map((x) => `    event ${x.kind} ${Buffer.from(x.data).toString('utf8')}\n`).join('');
      return `${head} mutation delta=${m.deltaId} root=${m.rootHash} author=${m.author}${m.local ? ' (local)' : ''}\n${events}`;
    }
    case 'contextJoined':
      return `${head} joined as ${ev.event.contextJoined.member}\n`;
    case 'contextLeft':
      return `${head} left\n`;
    case 'syncStatus': {
      const st = ev.event.syncStatus;
      const state = admin.syncStatus_StateToJSON(st.state).replace('STATE_', '').toLowerCase();
      const progress = st.total > 0n ? ` ${st.received}/${st.total}` : '';
      return `${head} sync ${state}${progress}${st.lastError ? ` (${st.lastError})` : ''}\n`;
    }
    default:
      return `${head} event\n`;
  }
}

/** `cnode context …`: the ContextService from the command line. */
export async function runContextCommand(
  endpoint: Endpoint,
  args: string[],
  opts: ContextCommandOptions,
): Promise<number> {
  const out = printer(opts.json, opts.write);
  const [sub, ...rest] = args;
  return withAdminApi(endpoint, opts.timeoutMs, async (api) => {
    switch (sub) {
      case 'create': {
        const res = await api.createContext({
          application: opts.app,
          groupId: opts.group ?? '',
          initParams: Buffer.from(opts.init ?? ''),
        });
        out(res, `context   ${res.contextId}\ngroup     ${res.groupId}\nmember    ${res.member}\n`);
        return 0;
      }
      case 'list': {
        const res = await api.listContexts();
        out(res, res.contexts.length === 0 ? 'no contexts\n' : res.contexts.map(formatContext).join('\n'));
        return 0;
      }
      case 'get': {
        const [id] = need(rest, 1, 'context get CONTEXT');
        const res = await api.getContext(id!);
        out(res, formatContext(res));
        return 0;
      }
      case 'leave': {
        const [id] = need(rest, 1, 'context leave CONTEXT');
        await api.leaveContext(id!);
        out({}, `left ${id}\n`);
        return 0;
      }
      case 'identity': {
        const res = await api.createIdentity();
        out(res, `${res.publicKey}\n`);
        return 0;
      }
      case 'invite': {
        const [id, invitee] = need(rest, 2, 'context invite CONTEXT PUBLIC_KEY');
        const res = await api.inviteMember(id!, invitee!, opts.keyFromPeers ?? false);
        out({ invitation: res.invitationText }, `${res.invitationText}\n`);
        return 0;
      }
      case 'invite-specialized': {
        const [contextId] = need(rest, 1, 'context invite-specialized CONTEXT');
        const res = await api.inviteSpecializedNode(contextId!);
        const invite = res.invite!;
        out(
          {
            ...invite,
            createdAtMs: Number(invite.createdAtMs),
            expiresAtMs: Number(invite.expiresAtMs),
            recipients: res.recipients,
          },
          `invite ${invite.nonce} for ${invite.contextId}: discovery sent to ${res.recipients} peer(s), open until ${new Date(Number(invite.expiresAtMs)).toISOString()}\n`,
        );
        return 0;
      }
      case 'specialized-invites': {
        const invites = await api.listSpecializedInvites();
        out(
          {
            invites: invites.map((i) => ({
              ...i,
              createdAtMs: Number(i.createdAtMs),
              expiresAtMs: Number(i.expiresAtMs),
            })),
          },
          invites.length === 0
            ? 'no pending invites\n'
            : invites.map((i) => `${i.nonce}  ${i.contextId}  ${i.state}${i.member ? `  ${i.member}` : ''}\n`).join(''),
        );
        return 0;
      }
      case 'join': {
        const [given] = need(rest, 1, 'context join INVITATION|@FILE');
        const text = given!.startsWith('@') ? opts.readFile(given!.slice(1)) : given!;
        const res = await api.joinContext(text.trim());
        out(res, `joined    ${res.contextId}\nmember    ${res.member}\n`);
        return 0;
      }
      case 'update': {
        const [id, app] = need(rest, 2, 'context update CONTEXT APP [--migrate METHOD] [--args JSON] [--force]');
        let migrateArgs: unknown;
        if (opts.migrateArgs) {
          try {
            migrateArgs = JSON.parse(opts.migrateArgs);
          } catch {
            throw new UsageError(`--args is not JSON: ${opts.migrateArgs}`);
          }
        }
        const res = await api.updateContextApplication(id!, app!, {
          ...(opts.migrate ? { migrateMethod: opts.migrate } : {}),
          ...(migrateArgs === undefined ? {} : { migrateArgs }),
          force: opts.force ?? false,
        });
        const migration = res.migration
          ? `migration ${Buffer.from(res.migration.output).toString('utf8')}${res.migration.deltaId ? ` (delta ${res.migration.deltaId})` : ''}\n`
          : '';
        out(res, `app       ${res.applicationId} ${res.version}\nop        ${res.opId}\n${migration}`);
        return 0;
      }
      case 'call': {
        const [id, method, json] = need(rest, 2, 'context call CONTEXT METHOD [JSON]');
        let parsed: unknown = {};
        if (json) {
          try {
            parsed = JSON.parse(json);
          } catch {
            throw new UsageError(`arguments are not JSON: ${json}`);
          }
        }
        const res = await api.execute(id!, method!, parsed);
        out(
          res,
          `${JSON.stringify(res.output)}${res.deltaId ? `\n(delta ${res.deltaId}, root ${res.rootHash})` : ''}\n`,
        );
        return 0;
      }
      case 'call-batch': {
        const [id, file] = need(rest, 2, 'context call-batch CONTEXT FILE|-');
        const calls = parseCallLines(opts.readFile(file!));
        const results = await api.executeBatch(id!, calls);
        out(
          results,
          results
            .map((r, i) =>
              r.ok
                ? `${i + 1} ok ${JSON.stringify(r.output)}${r.deltaId ? ` (delta ${r.deltaId})` : ''}\n`
                : `${i + 1} error ${r.code || status[r.status] || r.status}: ${r.message}\n`,
            )
            .join(''),
        );
        return results.every((r) => r.ok) ? 0 : 1;
      }
      case 'peers': {
        const [id] = need(rest, 1, 'context peers CONTEXT');
        const count = await api.peersCount(id!);
        out({ count }, `${count}\n`);
        return 0;
      }
      case 'sync': {
        const [id, peer] = need(rest, 1, 'context sync CONTEXT [PEER]');
        await api.triggerSync(id!, peer ?? '');
        out({ queued: true }, 'sync requested\n');
        return 0;
      }
      case 'status': {
        const [id] = need(rest, 1, 'context status CONTEXT');
        const view = await api.convergence(id!);
        out(view, formatSyncStatus(view.syncStatus!) + formatConvergence(view), (v) =>
          admin.GetContextConvergenceResponse.toJSON(v),
        );
        return 0;
      }
      case 'watch': {
        const from = BigInt(opts.from || '0');
        const stream = api.subscribeEvents(rest[0] ?? '', from);
        // A stream: one JSON object per line with --json.
        const line = printer(opts.json, opts.write, { lines: true });
        await new Promise<void>((resolve, reject) => {
          stream.on('data', (e: admin.SubscribeEventsResponse) =>
            line(e, formatEvent(e), (v) => admin.SubscribeEventsResponse.toJSON(v)),
          );
          stream.on('error', (err: ServiceError) => (err.code === status.CANCELLED ? resolve() : reject(err)));
          stream.on('end', () => resolve());
          process.once('SIGINT', () => stream.cancel());
        });
        return 0;
      }
      default:
        throw new UsageError(`unknown context command "${sub ?? ''}"\n${CONTEXT_USAGE}`);
    }
  });
}

/** One line per field of a sync status, for people. */
export function formatSyncStatus(st: admin.SyncStatus): string {
  const state = admin.syncStatus_StateToJSON(st.state).replace('STATE_', '').toLowerCase();
  const lines = [`state          ${state}`];
  if (st.state === admin.SyncStatus_State.STATE_BACKING_OFF) lines.push(`retry in       ${st.retryInSecs} s`);
  if (st.state === admin.SyncStatus_State.STATE_RECEIVING_SNAPSHOT)
    lines.push(`received       ${st.received}/${st.total}`);
  lines.push(`failures       ${st.failureCount}`);
  if (st.lastError) lines.push(`last error     ${st.lastError}`);
  if (st.lastProtocol) lines.push(`last protocol  ${st.lastProtocol} with ${st.lastPeer}`);
  if (st.lastSuccessAtMs > 0n) lines.push(`last success   ${new Date(Number(st.lastSuccessAtMs)).toISOString()}`);
  return lines.join('\n') + '\n';
}

const ago = (atMs: bigint, nowMs: number): string =>
  atMs === 0n ? '-' : `${Math.max(0, Math.round((nowMs - Number(atMs)) / 1000))} s ago`;

/** The convergence summary and one row per peer, for people. */
export function formatConvergence(view: admin.GetContextConvergenceResponse, nowMs = Date.now()): string {
  const when = (ms: bigint) => (ms > 0n ? new Date(Number(ms)).toISOString() : 'never');
  const summary = view.converged
    ? `yes, with all ${view.peers.filter((p) => p.counted).length} peer(s)`
    : `no${view.divergedSinceMs > 0n ? ` (since ${when(view.divergedSinceMs)})` : ''}; last converged ${when(view.convergedAtMs)}`;
  const lines = [
    '',
    `converged      ${summary}`,
    `episodes       ${view.divergenceEpisodes}`,
    `root           ${view.rootHash}${view.initialized ? '' : ' (no state yet)'}`,
    `heads          ${view.heads.join(', ') || '-'}`,
  ];
  if (view.peers.length === 0) return lines.join('\n') + '\nno peer heard from yet\n';
  const rows = view.peers.map((p) => {
    const verdict = admin.peerConvergence_VerdictToJSON(p.verdict).replace('VERDICT_', '').toLowerCase();
    const s = p.lastSession;
    return [
      p.peerId,
      p.counted ? verdict : `${verdict} (not counted)`,
      p.connected ? 'yes' : 'no',
      ago(p.heardAtMs, nowMs),
      s
        ? `${s.protocol} ${s.outcome} ${s.bytesSent + s.bytesReceived} B ${s.durationMs} ms, ${ago(s.atMs, nowMs)}`
        : '-',
      p.reason || '-',
    ];
  });
  const header = ['PEER', 'VERDICT', 'CONNECTED', 'HEARD', 'LAST SESSION', 'REASON'];
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (r: string[]) =>
    r
      .map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]!)))
      .join('  ')
      .trimEnd();
  return [...lines, '', line(header), ...rows.map(line)].join('\n') + '\n';
}

/** The calls of a call-batch file: one JSON object per non-empty line. */
export function parseCallLines(text: string): { method: string; args?: unknown; executor?: string }[] {
  const calls: { method: string; args?: unknown; executor?: string }[] = [];
  text.split('\n').forEach((line, i) => {
    if (!line.trim()) return;
    let call: unknown;
    try {
      call = JSON.parse(line);
    } catch {
      throw new CliError(`line ${i + 1}: not JSON`);
    }
    const c = call as { method?: unknown; args?: unknown; executor?: unknown } | null;
    if (!c || typeof c !== 'object' || typeof c.method !== 'string' || !c.method) {
      throw new CliError(`line ${i + 1}: expected {"method": "…", "args": {…}}`);
    }
    if (c.executor !== undefined && typeof c.executor !== 'string') {
      throw new CliError(`line ${i + 1}: "executor" must be a string`);
    }
    calls.push({ method: c.method, args: c.args, executor: c.executor });
  });
  if (calls.length === 0) throw new CliError('no calls in the file');
  return calls;
}
