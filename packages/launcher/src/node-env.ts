import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { DEFAULT_HTTP_PORTS, SERVICE_NAMES, type ServiceName } from '@cnode/config';

/** Ports of node i (1-based) of a devnet; node 1 gets the documented defaults. */
export const BASE_LIBP2P_PORT = 2428;
export const BASE_ADMIN_PORT = 2528;
export const BASE_APP_API_PORT = 2628;
/** Each further node's health ports are shifted by this much. */
export const HTTP_PORT_STRIDE = 10;
/** Health ports are base + 1 (network) … base + 5 (gc) for node 1; see DEFAULT_HTTP_PORTS. */
export const DEFAULT_HTTP_PORT_BASE = 9100;

export interface LocalNode {
  name: string;
  home: string;
  adminAddress: string;
  appApiAddress: string;
  /** Environment of each service process of this node. */
  envFor(service: ServiceName): NodeJS.ProcessEnv;
  /** Makes the node dial these peers at start (unless NETWORK_BOOTSTRAP was given for a single node). */
  bootstrapFrom(addrs: string[]): void;
  httpPort(service: ServiceName): number;
}

/**
 * The node's master key, kept in its home with owner-only permissions and created on first start.
 * NODE_MASTER_KEY in the environment wins (a single node only).
 */
function masterKeyFor(home: string): string {
  const file = join(home, 'master.key');
  if (existsSync(file)) return readFileSync(file, 'utf8').trim();
  const key = randomBytes(32).toString('hex');
  writeFileSync(file, `${key}\n`, { mode: 0o600, flag: 'wx' });
  return key;
}

/**
 * Environment for node `index` of `count`: its own name, home, ports and keys. With one node, every
 * variable already in the environment is kept; a devnet assigns per-node values.
 */
export function localNode(
  index: number,
  count: number,
  baseEnv: NodeJS.ProcessEnv,
  homeRoot: string,
  httpPortBase: number = DEFAULT_HTTP_PORT_BASE,
): LocalNode {
  const single = count === 1;
  const name = single ? (baseEnv.NODE_NAME ?? 'node1') : `node${index}`;
  const home = single && baseEnv.NODE_HOME ? baseEnv.NODE_HOME : join(homeRoot, name);
  mkdirSync(home, { recursive: true, mode: 0o700 });
  const offset = index - 1;
  const pick = (key: string, fallback: string): string => (single && baseEnv[key] ? baseEnv[key] : fallback);
  const adminAddress = pick('ADMIN_GRPC_LISTEN', `127.0.0.1:${BASE_ADMIN_PORT + offset}`);
  const appApiAddress = pick('APP_API_LISTEN', `127.0.0.1:${BASE_APP_API_PORT + offset}`);
  const common: NodeJS.ProcessEnv = {
    ...baseEnv,
    NODE_NAME: name,
    NODE_HOME: home,
    NODE_MASTER_KEY: pick('NODE_MASTER_KEY', masterKeyFor(home)),
    ADMIN_GRPC_LISTEN: adminAddress,
    ADMIN_TOKEN_FILE: pick('ADMIN_TOKEN_FILE', join(home, 'admin.token')),
    APP_API_LISTEN: appApiAddress,
    NETWORK_LISTEN: pick('NETWORK_LISTEN', `/ip4/127.0.0.1/tcp/${BASE_LIBP2P_PORT + offset}`),
  };
  const httpPort = (service: ServiceName): number =>
    DEFAULT_HTTP_PORTS[service] - DEFAULT_HTTP_PORT_BASE + httpPortBase + offset * HTTP_PORT_STRIDE;
  return {
    name,
    home,
    adminAddress,
    appApiAddress,
    httpPort,
    envFor: (service) => ({ ...common, HTTP_PORT: String(httpPort(service)) }),
    bootstrapFrom: (addrs) => {
      common.NETWORK_BOOTSTRAP = pick('NETWORK_BOOTSTRAP', addrs.join(','));
    },
  };
}

export { SERVICE_NAMES };
