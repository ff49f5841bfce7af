import { readFileSync } from 'node:fs';
import { join } from 'node:path';

/** Where and how to reach a node's admin API. */
export interface Endpoint {
  address: string;
  token: string;
  tls: boolean;
  caFile: string | undefined;
}

export interface EndpointFlags {
  node: string | undefined;
  home: string | undefined;
  addr: string | undefined;
  token: string | undefined;
  tokenFile: string | undefined;
  tls: boolean;
  ca: string | undefined;
}

export class CliError extends Error {}

/** The command was used wrongly (exit code 2), rather than failing (exit code 1). */
export class UsageError extends CliError {}

function readText(path: string, what: string): string {
  try {
    return readFileSync(path, 'utf8').trim();
  } catch (err) {
    throw new CliError(`cannot read ${what} ${path}: ${(err as Error).message}`);
  }
}

/**
 * Flags win; otherwise the node home's `admin.json` (written by node-manager at startup) gives the
 * address and token file of the local node. Environment: CNODE_ADMIN_ADDR, CNODE_ADMIN_TOKEN.
 */
export function resolveEndpoint(flags: EndpointFlags, env: NodeJS.ProcessEnv): Endpoint {
  const node = flags.node ?? env.NODE_NAME ?? 'node1';
  const home = flags.home ?? env.NODE_HOME ?? join('.cnode', node);
  let written: { address?: string; tokenFile?: string; tls?: boolean } = {};
  const addrGiven = flags.addr ?? env.CNODE_ADMIN_ADDR;
  const tokenGiven = flags.token ?? env.CNODE_ADMIN_TOKEN;
  if (!addrGiven || (!tokenGiven && !flags.tokenFile)) {
    const file = join(home, 'admin.json');
    try {
      written = JSON.parse(readFileSync(file, 'utf8')) as typeof written;
    } catch {
      throw new CliError(
        `no admin endpoint for node "${node}" (${file} not found): start the node with 'npm start', or pass --addr and --token`,
      );
    }
  }
  const address = addrGiven ?? written.address;
  if (!address) throw new CliError('no admin address: pass --addr host:port');
  let token = tokenGiven;
  if (!token) {
    const tokenFile = flags.tokenFile ?? written.tokenFile;
    if (!tokenFile) throw new CliError('no admin token: pass --token or --token-file');
    token = readText(tokenFile, 'admin token file');
  }
  return { address, token, tls: flags.tls || Boolean(written.tls), caFile: flags.ca };
}
