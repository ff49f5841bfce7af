/**
 * `cnode --json` against a running node: enums print as their names, and a stream (`context watch`)
 * prints one JSON object per line.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { ProcessNode, builtEntry, spawnNode, waitFor } from '@cnode/testing';

let node: ProcessNode;
let contextId: string;
let groupId: string;

const cli = (...args: string[]) =>
  spawnNode(
    builtEntry('packages/cli/bin/cnode.js'),
    [...args, '--home', node.env.NODE_HOME!, '--token', node.env.ADMIN_TOKEN!],
    node.env,
  );

beforeAll(async () => {
  node = await ProcessNode.start();
  const created = await node.api.createContext();
  contextId = created.contextId;
  groupId = created.groupId;
  await node.api.execute(contextId, 'set', { key: 'a', value: '1' });
  await node.api.execute(contextId, 'set', { key: 'b', value: '2' });
}, 120_000);

afterAll(async () => {
  await node?.stop();
});

describe('cnode --json', () => {
  it('prints enums by name', async () => {
    const members = cli('group', 'members', groupId, '--json');
    expect(await members.exited).toBe(0);
    const parsed = JSON.parse(members.lines.join('\n')) as { members: { role: string }[] };
    expect(parsed.members.map((m) => m.role)).toEqual(['MEMBER_ROLE_ADMIN']);
    const status = cli('context', 'status', contextId, '--json');
    expect(await status.exited).toBe(0);
    const view = JSON.parse(status.lines.join('\n')) as { syncStatus: { state: string }; peers?: unknown[] };
    expect(view.syncStatus.state).toMatch(/^STATE_[A-Z_]+$/);
  });

  it('streams events as JSON Lines', async () => {
    const watch = cli('context', 'watch', contextId, '--from', '1', '--json');
    await waitFor(() => watch.lines.filter((l) => l.includes('stateMutation')).length >= 2, {
      message: 'two mutation events',
    });
    watch.child.kill('SIGINT');
    await watch.exited;
    const events = watch.lines.filter((l) => l.trim()).map((l) => JSON.parse(l) as { sequence: string; event: object });
    expect(events.length).toBeGreaterThanOrEqual(2);
    for (const e of events) expect(e.sequence).toMatch(/^\d+$/);
  });
});
