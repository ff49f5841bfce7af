import { readFileSync } from 'node:fs';
import { Command, CommanderError, Option } from 'commander';
import { buildCommit, packageVersion, parseDuration } from '@cnode/runtime';
import { UsageError, resolveEndpoint, type Endpoint } from './endpoint.js';
import { fetchInfo, formatInfo } from './commands/info.js';
import { runContextCommand } from './commands/context.js';
import { runGroupCommand } from './commands/group.js';
import { runBlobCommand } from './commands/blob.js';
import { runAliasCommand } from './commands/alias.js';
import { runAppCommand } from './commands/app.js';
import { runGcCommand } from './commands/gc.js';
import { runClientTokenCommand } from './commands/client-token.js';
import { COMMANDS, ENVIRONMENT_HELP, type OptionSpec } from './commands/catalog.js';

/** Every option a command may read, with its default (what the commands below expect). */
interface Values {
  node?: string;
  home?: string;
  addr?: string;
  token?: string;
  'token-file'?: string;
  tls: boolean;
  ca?: string;
  json: boolean;
  timeout: string;
  app: string;
  from: string;
  'key-from-peers': boolean;
  group: string;
  init: string;
  migrate: string;
  args: string;
  limit: string;
  context: string;
  peer: string[];
  out?: string;
  force: boolean;
  dev: boolean;
  hash: string;
  package?: string;
  'app-version'?: string;
  wasm?: string;
  key?: string;
  task: string[];
  identity: string;
  ttl: string;
  'read-only': boolean;
}

const DEFAULTS: Values = {
  tls: false,
  json: false,
  timeout: '5s',
  app: 'kv',
  from: '0',
  'key-from-peers': false,
  group: '',
  init: '',
  migrate: '',
  args: '',
  limit: '0',
  context: '',
  peer: [],
  force: false,
  dev: false,
  hash: '',
  task: [],
  identity: '',
  ttl: '',
  'read-only': false,
};

/** `--timeout`: a duration (`5s`, `500ms`, `2m`), or a bare number of milliseconds. */
function timeoutOf(text: string): number {
  const ms = /^\d+$/.test(text) ? Number(text) : parseDuration(text);
  if (ms === undefined || !Number.isFinite(ms) || ms <= 0) {
    throw new UsageError(`--timeout: expected a duration such as 5s, 500ms or 2m, got "${text}"`);
  }
  return ms;
}

/** Runs one command: the subcommands of each group are in ./commands/<group>.ts. */
async function dispatch(command: string, positionals: string[], values: Values): Promise<number> {
  const timeoutMs = timeoutOf(values.timeout);
  // Resolved only by commands that talk to a node ('app keygen', 'app bundle', 'app build' are local).
  const endpoint = (): Endpoint =>
    resolveEndpoint(
      {
        node: values.node,
        home: values.home,
        addr: values.addr,
        token: values.token,
        tokenFile: values['token-file'],
        tls: values.tls,
        ca: values.ca,
      },
      process.env,
    );
  const write = (text: string): void => void process.stdout.write(text);
  switch (command) {
    case 'info': {
      const info = await fetchInfo(endpoint(), timeoutMs);
      process.stdout.write(values.json ? `${JSON.stringify(info, null, 2)}\n` : formatInfo(info));
      return 0;
    }
    case 'group':
      return runGroupCommand(endpoint(), positionals.slice(1), {
        keyFromPeers: values['key-from-peers'],
        limit: values.limit,
        json: values.json,
        timeoutMs,
        write,
      });
    case 'blob':
      return runBlobCommand(endpoint(), positionals.slice(1), {
        context: values.context,
        peers: values.peer,
        out: values.out,
        force: values.force,
        json: values.json,
        timeoutMs,
        write,
        stdout: process.stdout,
        stdin: process.stdin,
      });
    case 'app':
      return runAppCommand(endpoint, positionals.slice(1), {
        dev: values.dev,
        hash: values.hash,
        context: values.context,
        peers: values.peer,
        package: values.package,
        appVersion: values['app-version'],
        wasm: values.wasm,
        key: values.key,
        out: values.out,
        json: values.json,
        timeoutMs,
        write,
      });
    case 'gc':
      return runGcCommand(endpoint(), positionals.slice(1), {
        tasks: values.task,
        limit: values.limit,
        json: values.json,
        timeoutMs,
        write,
      });
    case 'client-token':
      return runClientTokenCommand(endpoint(), positionals.slice(1), {
        context: values.context,
        identity: values.identity,
        ttl: values.ttl,
        readOnly: values['read-only'],
        json: values.json,
        timeoutMs,
        write,
      });
    case 'alias':
      return runAliasCommand(endpoint(), positionals.slice(1), {
        context: values.context,
        json: values.json,
        timeoutMs,
        write,
      });
    case 'context':
      return runContextCommand(endpoint(), positionals.slice(1), {
        app: values.app,
        group: values.group,
        init: values.init,
        migrate: values.migrate,
        migrateArgs: values.args,
        force: values.force,
        from: values.from,
        keyFromPeers: values['key-from-peers'],
        json: values.json,
        timeoutMs,
        readFile: (path) => readFileSync(path === '-' ? 0 : path, 'utf8'),
        write,
      });
    default:
      throw new UsageError(`unknown command "${command}"`);
  }
}

const camel = (flag: string): string => flag.replace(/-([a-z])/g, (_m, c: string) => c.toUpperCase());

function optionOf(spec: OptionSpec): Option {
  const option = new Option(spec.flags, spec.description);
  if (spec.repeatable) option.argParser((value: string, previous: string[] = []) => [...previous, value]);
  return option;
}

/** The `cnode` program: commands, options, help with examples, version. */
export function buildProgram(run: (command: string, positionals: string[], values: Values) => Promise<void>): Command {
  const version = packageVersion(import.meta.url);
  const program = new Command('cnode')
    .description("the cnode command line: drive a node's admin API")
    .version(`cnode ${version} (commit ${buildCommit()})`, '-V, --version', 'print the version and commit')
    .option('--node <name>', 'local node to talk to (default: $NODE_NAME or node1)')
    .option('--home <dir>', 'node home holding admin.json (default: .cnode/<node>)')
    .option('--addr <host:port>', 'admin gRPC address (default: from admin.json; $CNODE_ADMIN_ADDR)')
    .option('--token <token>', 'admin token (default: $CNODE_ADMIN_TOKEN, else the token file)')
    .option('--token-file <file>', 'file holding the admin token')
    .option('--tls', 'use TLS')
    .option('--ca <file>', 'trust this CA for TLS')
    .option('--json', 'print JSON (streams: one object per line; errors: JSON on stderr)')
    .option('--timeout <duration>', 'call deadline, e.g. 5s, 500ms, 2m (default 5s)')
    .showHelpAfterError('(run with --help for usage)')
    .addHelpText('after', ENVIRONMENT_HELP)
    .exitOverride();
  for (const group of COMMANDS) {
    const parent = group.subcommands ? program.command(group.name).description(group.description) : undefined;
    const targets = group.subcommands ?? [{ ...group, name: group.name }];
    for (const sub of targets) {
      const cmd = parent ? parent.command(sub.name) : program.command(sub.name);
      cmd.description(sub.description);
      for (const arg of sub.args ?? []) cmd.argument(arg);
      for (const opt of sub.options ?? []) cmd.addOption(optionOf(opt));
      if (sub.examples) cmd.addHelpText('after', `\nExamples:\n${sub.examples.map((e) => `  $ ${e}`).join('\n')}\n`);
      cmd.exitOverride();
      cmd.action(async (...received: unknown[]) => {
        const self = received.at(-1) as Command;
        const positionals = (received.slice(0, -2) as (string | string[] | undefined)[])
          .flat()
          .filter((a): a is string => typeof a === 'string');
        const raw: Record<string, unknown> = self.optsWithGlobals();
        const values = { ...DEFAULTS } as Record<string, unknown>;
        for (const key of Object.keys(DEFAULTS).concat([
          'node',
          'home',
          'addr',
          'token',
          'token-file',
          'ca',
          'out',
          'package',
          'app-version',
          'wasm',
          'key',
        ])) {
          const given = raw[camel(key)];
          if (given !== undefined) values[key] = given;
        }
        // The group commands read their subcommand and arguments after the group's name.
        await run(group.name, [group.name, ...(parent ? [sub.name] : []), ...positionals], values as unknown as Values);
      });
    }
    if (parent) {
      parent.exitOverride();
      parent.showHelpAfterError('(run with --help for usage)');
      if (group.examples)
        parent.addHelpText('after', `\nExamples:\n${group.examples.map((e) => `  $ ${e}`).join('\n')}\n`);
    }
  }
  return program;
}

/** Exit codes: 0 done, 1 the command failed, 2 it was used wrongly. */
async function main(argv: string[]): Promise<number> {
  let code = 0;
  const json = argv.includes('--json');
  const fail = (err: unknown, exitCode: number): number => {
    const message = err instanceof Error ? err.message : String(err);
    const grpc = err as { code?: unknown; details?: string };
    if (json) {
      const error = {
        message,
        exitCode,
        ...(typeof grpc.code === 'number' ? { grpcStatus: grpc.code, details: grpc.details } : {}),
      };
      process.stderr.write(`${JSON.stringify({ error })}\n`);
    } else {
      process.stderr.write(`cnode: ${message}\n`);
    }
    return exitCode;
  };
  const program = buildProgram(async (command, positionals, values) => {
    code = await dispatch(command, positionals, values);
  });
  if (argv.length === 0) {
    program.outputHelp({ error: true });
    return 2;
  }
  try {
    await program.parseAsync(argv, { from: 'user' });
    return code;
  } catch (err) {
    if (err instanceof CommanderError) {
      // Help and --version exit 0; a wrong command, option or missing argument is a usage error.
      if (err.code === 'commander.helpDisplayed' || err.code === 'commander.version' || err.code === 'commander.help')
        return 0;
      return 2;
    }
    if (err instanceof UsageError) return fail(err, 2);
    return fail(err, 1);
  }
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(`cnode: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(1);
  },
);
