import { parseArgs } from 'node:util';
import { CliError, resolveEndpoint, type Endpoint } from './endpoint.js';
import { readFileSync } from 'node:fs';
import { fetchInfo, formatInfo } from './commands/info.js';
import { CONTEXT_USAGE, runContextCommand } from './commands/context.js';
import { GROUP_USAGE, runGroupCommand } from './commands/group.js';
import { BLOB_USAGE, runBlobCommand } from './commands/blob.js';
import { ALIAS_USAGE, runAliasCommand } from './commands/alias.js';
import { APP_USAGE, runAppCommand } from './commands/app.js';
import { GC_USAGE, runGcCommand } from './commands/gc.js';
import { CLIENT_TOKEN_USAGE, runClientTokenCommand } from './commands/client-token.js';

const USAGE = `usage: cnode <command> [options]

commands:
  info                               the node's name, peer id, addresses, version and service readiness
${CONTEXT_USAGE}${GROUP_USAGE}${BLOB_USAGE}${APP_USAGE}${ALIAS_USAGE}${GC_USAGE}${CLIENT_TOKEN_USAGE}
options:
  --node NAME       local node to talk to (default: $NODE_NAME or node1)
  --home DIR        node home holding admin.json (default: .cnode/<node>)
  --addr HOST:PORT  admin gRPC address (default: from admin.json)
  --token TOKEN     admin token (default: $CNODE_ADMIN_TOKEN, else the token file)
  --token-file F    file holding the admin token
  --tls             use TLS; --ca FILE to trust a private CA
  --json            print JSON
  --timeout MS      call deadline (default 5000)
  --app NAME        application of 'context create' (default kv)
  --group GROUP     'context create' in this existing group of ours
  --init JSON       'context create': arguments of the application's init method
  --limit N         most ops 'group ops' lists (default 100), most reports 'gc status' prints (default 10)
  --from N          first event sequence of 'context watch' (default: new events only)
  --context CTX     context of 'blob add/get', 'app install-blob', 'client-token' and identity aliases
  --identity ID     'client-token create': our identity the token acts as (default: the first)
  --ttl DURATION    'client-token create': lifetime of the grant (default 24h)
  --read-only       'client-token create': view methods only
  --peer PEER       'blob get'/'app install-blob': ask this peer first (repeatable)
  --out FILE        'blob get' target (default stdout); 'app bundle' output
  --force           'blob delete' even while an application uses the blob
  --dev             accept unsigned bundles
  --hash H          'app install-url': expected hex SHA-256
  --package P, --app-version V, --wasm FILE, --key KEYFILE   'app bundle' inputs
  Streaming and fetching calls (installs, 'blob get' of a remote blob) may need a longer --timeout.
`;

async function main(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      node: { type: 'string' },
      home: { type: 'string' },
      addr: { type: 'string' },
      token: { type: 'string' },
      'token-file': { type: 'string' },
      tls: { type: 'boolean', default: false },
      ca: { type: 'string' },
      json: { type: 'boolean', default: false },
      timeout: { type: 'string', default: '5000' },
      help: { type: 'boolean', short: 'h', default: false },
      app: { type: 'string', default: 'kv' },
      from: { type: 'string', default: '0' },
      'key-from-peers': { type: 'boolean', default: false },
      group: { type: 'string', default: '' },
      init: { type: 'string', default: '' },
      migrate: { type: 'string', default: '' },
      args: { type: 'string', default: '' },
      limit: { type: 'string', default: '0' },
      context: { type: 'string', default: '' },
      peer: { type: 'string', multiple: true, default: [] },
      out: { type: 'string' },
      force: { type: 'boolean', default: false },
      dev: { type: 'boolean', default: false },
      hash: { type: 'string', default: '' },
      package: { type: 'string' },
      'app-version': { type: 'string' },
      wasm: { type: 'string' },
      key: { type: 'string' },
      task: { type: 'string', multiple: true, default: [] },
      identity: { type: 'string', default: '' },
      ttl: { type: 'string', default: '' },
      'read-only': { type: 'boolean', default: false },
    },
  });
  const command = positionals[0];
  if (values.help || !command) {
    process.stdout.write(USAGE);
    return command || values.help ? 0 : 2;
  }
  const timeoutMs = Number(values.timeout);
  if (!Number.isInteger(timeoutMs) || timeoutMs <= 0) throw new CliError('--timeout must be a positive integer');
  // Resolved only by commands that talk to a node ('app keygen' and 'app bundle' are local).
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
      process.stderr.write(`cnode: unknown command "${command}"\n${USAGE}`);
      return 2;
  }
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(`cnode: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(1);
  },
);
