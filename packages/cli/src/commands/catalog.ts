/**
 * Every `cnode` command: its arguments, options and examples, from which the program and its help
 * are built (commander). What each command does is in the module of its group.
 */

export interface OptionSpec {
  flags: string;
  description: string;
  /** May be given several times (values collected in order). */
  repeatable?: boolean;
}

export interface CommandSpec {
  name: string;
  description: string;
  /** commander argument syntax: `<required>`, `[optional]`. */
  args?: string[];
  options?: OptionSpec[];
  examples?: string[];
}

export interface CommandGroup extends CommandSpec {
  subcommands?: CommandSpec[];
}

const context: OptionSpec = { flags: '--context <ctx>', description: 'context id or alias' };
const dev: OptionSpec = {
  flags: '--dev',
  description: 'accept an unsigned bundle (a present signature is still verified)',
};
const peer: OptionSpec = { flags: '--peer <peer>', description: 'ask this peer first (repeatable)', repeatable: true };
const limit: OptionSpec = { flags: '--limit <n>', description: 'at most this many' };

export const COMMANDS: CommandGroup[] = [
  {
    name: 'info',
    description: "the node's name, mode, peer id, addresses, version and service readiness",
    examples: ['cnode info', 'cnode info --node node2 --json'],
  },
  {
    name: 'context',
    description: 'contexts, their members and application calls',
    examples: [
      'cnode context create',
      'cnode context call $CTX set \'{"key":"greeting","value":"hello"}\'',
      'cnode context watch $CTX --from 1 --json',
    ],
    subcommands: [
      {
        name: 'create',
        description: 'create a context (in a new group with this node as admin, or in --group)',
        options: [
          { flags: '--app <app>', description: 'installed application id or alias (default kv)' },
          { flags: '--group <group>', description: 'an existing group of ours' },
          { flags: '--init <json>', description: "arguments of the application's init method" },
        ],
        examples: ['cnode context create', 'cnode context create --app chat --init \'{"title":"team"}\''],
      },
      { name: 'list', description: 'the contexts this node hosts' },
      { name: 'get', description: 'one context: root hash, heads, members, pending deltas', args: ['<context>'] },
      { name: 'leave', description: "unsubscribe and delete the context's local data", args: ['<context>'] },
      { name: 'identity', description: 'create a member identity to be invited with' },
      {
        name: 'invite',
        description: 'invite a member; prints the invitation to hand over',
        args: ['<context>', '<public-key>'],
        options: [{ flags: '--key-from-peers', description: 'no key in it: the joiner gets it from a member' }],
        examples: ['KEY=$(cnode context identity --node node2); cnode context invite $CTX $KEY'],
      },
      { name: 'join', description: 'join with an invitation (text, or @file)', args: ['<invitation>'] },
      {
        name: 'invite-specialized',
        description: 'look for a read-only node to admit (it answers with an attestation)',
        args: ['<context>'],
      },
      { name: 'specialized-invites', description: 'pending specialized-node invites' },
      {
        name: 'call',
        description: 'run a method of the context’s application',
        args: ['<context>', '<method>', '[json]'],
        examples: ['cnode context call $CTX get \'{"key":"greeting"}\''],
      },
      {
        name: 'call-batch',
        description: 'run the calls of a JSON Lines file (- for stdin) in one request; exit 1 if any failed',
        args: ['<context>', '<file>'],
        examples: ['cnode context call-batch $CTX calls.jsonl'],
      },
      { name: 'peers', description: "peers subscribed to the context's topic", args: ['<context>'] },
      { name: 'sync', description: 'sync now (bypasses spacing and backoff)', args: ['<context>', '[peer]'] },
      {
        name: 'status',
        description: 'sync status, and a table of peers: converged, behind, ahead, diverged or unknown, and why',
        args: ['<context>'],
      },
      {
        name: 'watch',
        description: 'stream node events (Ctrl-C to stop); with --json one object per line',
        args: ['[context]'],
        options: [{ flags: '--from <n>', description: 'first event sequence (default: new events only)' }],
      },
      {
        name: 'update',
        description: 'move the context to the installed version of an application (admins)',
        args: ['<context>', '<app>'],
        options: [
          { flags: '--migrate <method>', description: 'method of the new version to run once after the switch' },
          { flags: '--args <json>', description: 'its arguments' },
          { flags: '--force', description: 'even another package or an older version' },
        ],
      },
    ],
  },
  {
    name: 'group',
    description: 'groups and their governance',
    examples: ['cnode group members $GRP', 'cnode group set-role $GRP $KEY read_only'],
    subcommands: [
      { name: 'create', description: 'create a group (this node becomes its admin)' },
      { name: 'list', description: 'the groups this node holds governance of' },
      { name: 'get', description: 'one group: heads, contexts, current key, ops', args: ['<group>'] },
      { name: 'members', description: 'members at our governance heads, with roles', args: ['<group>'] },
      {
        name: 'add',
        description: 'add a member (role: member, admin, read_only)',
        args: ['<group>', '<public-key>', '[role]'],
        options: [{ flags: '--key-from-peers', description: 'no key in the op: the member gets it from a member' }],
      },
      { name: 'remove', description: 'remove a member and rotate the group key', args: ['<group>', '<public-key>'] },
      { name: 'set-role', description: "change a member's role", args: ['<group>', '<public-key>', '<role>'] },
      { name: 'rotate-key', description: 'rotate the group key to the current members', args: ['<group>'] },
      { name: 'unregister', description: 'unregister a context from the group', args: ['<group>', '<context>'] },
      { name: 'ops', description: 'the governance ops log, oldest first', args: ['<group>'], options: [limit] },
    ],
  },
  {
    name: 'blob',
    description: 'content-addressed blobs',
    examples: ['cnode blob add photo.jpg --context $CTX', 'cnode blob get $BLOB --out copy.jpg'],
    subcommands: [
      { name: 'add', description: 'store a file (- for stdin) as a blob', args: ['<file>'], options: [context] },
      {
        name: 'get',
        description: "write a blob out (stdout by default); missing here, it is fetched from the context's providers",
        args: ['<blob>'],
        options: [{ flags: '--out <file>', description: 'target file' }, context, peer],
      },
      { name: 'info', description: 'size, chunk count, SHA-256', args: ['<blob>'] },
      { name: 'list', description: 'the blobs stored here' },
      {
        name: 'delete',
        description: 'delete a blob',
        args: ['<blob>'],
        options: [{ flags: '--force', description: 'even while an installed application uses it' }],
      },
      { name: 'announce', description: 'publish this node as a provider of the blob', args: ['<blob>', '<context>'] },
      { name: 'providers', description: 'the peers the DHT names as providers', args: ['<blob>', '<context>'] },
    ],
  },
  {
    name: 'app',
    description: 'applications: install, build, bundle',
    examples: ['cnode app build apps/kv --key app.key', 'cnode app install apps/kv/build/kv-1.0.0.bundle'],
    subcommands: [
      {
        name: 'install',
        description: 'upload a bundle (or raw wasm) and install it',
        args: ['<file>'],
        options: [dev],
      },
      {
        name: 'install-path',
        description: 'install a bundle the node reads from its own filesystem',
        args: ['<path>'],
        options: [dev],
      },
      {
        name: 'install-url',
        description: 'the node downloads and installs (private and loopback targets refused)',
        args: ['<url>'],
        options: [{ flags: '--hash <sha256>', description: 'expected hex SHA-256' }, dev],
      },
      {
        name: 'install-blob',
        description: 'install a stored bundle blob',
        args: ['<blob>'],
        options: [context, peer, dev],
      },
      { name: 'uninstall', description: 'uninstall (id or alias)', args: ['<app>'] },
      { name: 'get', description: 'one application: package, version, signer, artifacts', args: ['<app>'] },
      { name: 'list', description: 'installed applications' },
      { name: 'packages', description: 'packages and their installed versions, newest first' },
      { name: 'keygen', description: 'write a new bundle signing key (Ed25519)', args: ['<keyfile>'] },
      {
        name: 'bundle',
        description: 'build a bundle (signed with --key; unsigned ones install only with --dev)',
        options: [
          { flags: '--package <name>', description: 'package name' },
          { flags: '--app-version <version>', description: 'version' },
          { flags: '--wasm <file>', description: 'the module' },
          { flags: '--key <keyfile>', description: 'signing key' },
          { flags: '--out <file>', description: 'bundle to write' },
        ],
      },
      {
        name: 'build',
        description: 'compile an AssemblyScript app (DIR/assembly/index.ts, DIR/app.json) and bundle it',
        args: ['<dir>'],
        options: [
          { flags: '--key <keyfile>', description: 'signing key' },
          { flags: '--out <file>', description: 'bundle to write' },
        ],
      },
    ],
  },
  {
    name: 'alias',
    description: 'node-local names for contexts, applications and identities',
    examples: ['cnode alias create context team $CTX', 'cnode alias list identity --context team'],
    subcommands: [
      {
        name: 'create',
        description: 'name an id (kind: context, application, identity)',
        args: ['<kind>', '<name>', '<id>'],
        options: [context],
      },
      { name: 'delete', description: 'delete an alias', args: ['<kind>', '<name>'], options: [context] },
      { name: 'lookup', description: 'the id an alias names', args: ['<kind>', '<name>'], options: [context] },
      {
        name: 'resolve',
        description: "the alias's id, else the text itself as an id",
        args: ['<kind>', '<name-or-id>'],
        options: [context],
      },
      { name: 'list', description: 'every alias of a kind', args: ['<kind>'], options: [context] },
    ],
  },
  {
    name: 'gc',
    description: 'garbage collection',
    subcommands: [
      {
        name: 'run',
        description: 'run GC now on the leading gc replica and print the reports',
        options: [
          { flags: '--task <task>', description: 'tombstones, pending, compaction (repeatable)', repeatable: true },
        ],
      },
      { name: 'status', description: 'the newest GC reports and the lease holder', options: [limit] },
    ],
  },
  {
    name: 'client-token',
    description: 'tokens for application frontends (the app API)',
    examples: ['cnode client-token create --context $CTX --ttl 24h --read-only', 'cnode client-token revoke $GRANT'],
    subcommands: [
      {
        name: 'create',
        description: 'a token that executes as one identity in one context',
        options: [
          context,
          { flags: '--identity <id>', description: 'our identity in the context (default: the first)' },
          { flags: '--ttl <duration>', description: 'lifetime of the grant, e.g. 24h (default 24h)' },
          { flags: '--read-only', description: 'view methods only' },
        ],
      },
      { name: 'revoke', description: 'end a grant: its tokens stop working', args: ['<grant>'] },
      { name: 'list', description: 'grants that have not expired', options: [context] },
    ],
  },
];

export const ENVIRONMENT_HELP = `
Environment:
  NODE_NAME           the local node to talk to (default node1)
  NODE_HOME           its home directory, holding admin.json (default .cnode/<node>)
  CNODE_ADMIN_ADDR    admin gRPC address (instead of admin.json)
  CNODE_ADMIN_TOKEN   admin token (instead of the token file)

Exit codes: 0 done, 1 the command failed, 2 it was used wrongly.
Run 'cnode help <command>' or 'cnode <command> --help' for a command's arguments and examples.
`;
