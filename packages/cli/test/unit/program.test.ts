/**
 * The conventions of the `cnode` command line, run as a user runs it (the built bin, from outside
 * the repository): version and commit, help with examples for every command, exit codes (0 done,
 * 1 failed, 2 used wrongly), durations, JSON errors. Commands that need a node are in
 * test/e2e/cli.test.ts.
 */
import { spawnSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from '@jest/globals';
import { COMMANDS } from '../../src/commands/catalog.js';
import { Progress } from '../../src/progress.js';

const BIN = fileURLToPath(new URL('../../bin/cnode.js', import.meta.url));

/** Runs the CLI from a directory outside the repository, as an installed command would run. */
function cnode(...args: string[]): { code: number | null; stdout: string; stderr: string } {
  const res = spawnSync(process.execPath, [BIN, ...args], {
    cwd: tmpdir(),
    encoding: 'utf8',
    env: { ...process.env, NODE_NAME: 'no-such-node-here', NODE_HOME: '' },
  });
  return { code: res.status, stdout: res.stdout, stderr: res.stderr };
}

describe('cnode conventions', () => {
  it('--version prints the version and the commit', () => {
    const res = cnode('--version');
    expect(res.code).toBe(0);
    expect(res.stdout.trim()).toMatch(/^cnode \d+\.\d+\.\d+ \(commit ([0-9a-f]{40}|unknown)\)$/);
  });

  it('has help with examples for every command group, as `help X` and `X --help`', () => {
    for (const group of COMMANDS) {
      for (const args of [
        ['help', group.name],
        [group.name, '--help'],
      ]) {
        const res = cnode(...args);
        expect([args.join(' '), res.code]).toEqual([args.join(' '), 0]);
        expect(res.stdout).toContain(group.description);
        if (group.examples) expect(res.stdout).toContain(`Examples:\n  $ ${group.examples[0]}`);
      }
    }
    const call = cnode('context', 'call', '--help');
    expect(call.stdout).toContain('Usage: cnode context call [options] <context> <method> [json]');
    const top = cnode('--help');
    expect(top.stdout).toContain('CNODE_ADMIN_TOKEN');
    expect(top.stdout).toContain('Exit codes: 0 done, 1 the command failed, 2 it was used wrongly.');
  });

  it('exits 2 on usage errors: unknown command or option, missing argument, bad value', () => {
    expect(cnode('nope').code).toBe(2);
    expect(cnode('context', 'frobnicate').code).toBe(2);
    expect(cnode('group', 'members').code).toBe(2);
    expect(cnode('info', '--no-such-option').code).toBe(2);
    const timeout = cnode('info', '--timeout', '5x');
    expect(timeout.code).toBe(2);
    expect(timeout.stderr).toMatch(/--timeout: expected a duration such as 5s/);
    const role = cnode('group', 'add', 'G', 'K', 'wizard', '--addr', '127.0.0.1:1', '--token', 't');
    expect(role.code).toBe(2);
    expect(role.stderr).toMatch(/role must be member, admin or read_only/);
    expect(cnode().code).toBe(2);
  });

  it('exits 1 when the command fails, with a JSON error on stderr under --json', () => {
    const plain = cnode('info', '--addr', '127.0.0.1:1', '--token', 't', '--timeout', '1s');
    expect(plain.code).toBe(1);
    expect(plain.stderr).toMatch(/^cnode: /);
    const json = cnode('info', '--addr', '127.0.0.1:1', '--token', 't', '--timeout', '500ms', '--json');
    expect(json.code).toBe(1);
    const error = (JSON.parse(json.stderr.trim()) as { error: { message: string; exitCode: number } }).error;
    expect(error.exitCode).toBe(1);
    expect(error.message).toMatch(/cannot reach the admin API|UNAVAILABLE|deadline/i);
    expect(json.stdout).toBe('');
  });
});

describe('Progress', () => {
  const terminal = () => {
    const written: string[] = [];
    return { isTTY: true, write: (s: string) => void written.push(s), written } as unknown as NodeJS.WriteStream & {
      written: string[];
    };
  };

  it('draws a bar on a terminal, and nothing elsewhere', async () => {
    const tty = terminal();
    const progress = new Progress('uploading', 4 << 20, tty);
    const pieces = async function* () {
      for (let i = 0; i < 4; i++) yield new Uint8Array(1 << 20);
    };
    let total = 0;
    for await (const piece of progress.track(pieces())) total += piece.length;
    expect(total).toBe(4 << 20);
    expect(tty.written.at(-2)).toMatch(/^\ruploading \[#{30}\] 4\.0 MiB \/ 4\.0 MiB 100%$/);
    expect(tty.written.at(-1)).toBe('\n');

    const pipe = { ...terminal(), isTTY: false } as unknown as NodeJS.WriteStream & { written: string[] };
    const quiet = new Progress('uploading', 100, pipe);
    quiet.add(50);
    quiet.finish();
    expect(pipe.written).toEqual([]);
  });
});
