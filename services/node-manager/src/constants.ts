import { packageVersion } from '@cnode/runtime';

export const SERVICE_NAME = 'node-manager';
export const VERSION = packageVersion(import.meta.url);

/** Bytes of randomness in a generated admin token (hex-encoded: 64 characters). */
export const ADMIN_TOKEN_BYTES = 32;

/** File the admin server writes into the node home so `cnode` finds the local node. */
export const ADMIN_ENDPOINT_FILE = 'admin.json';

/** Calls that need no token: the standard health service, which probes cannot authenticate to. */
export const UNAUTHENTICATED_PATH_PREFIXES = ['/grpc.health.v1.Health/'];

/** How often topic (un)subscriptions the network service could not take are retried. */
export const SUBSCRIPTION_RETRY_MS = 5_000;
