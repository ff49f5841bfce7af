import { readFileSync } from 'node:fs';
import { credentials, Metadata, status, type ServiceError } from '@grpc/grpc-js';
import { admin } from '@cnode/proto';
import { AdminApi } from './admin-api.js';
import { CliError, type Endpoint } from './endpoint.js';

/** A NodeService client that sends the admin token with every call. */
export function nodeClient(endpoint: Endpoint): admin.NodeServiceClient {
  const channel = endpoint.tls
    ? credentials.createSsl(endpoint.caFile ? readFileSync(endpoint.caFile) : null)
    : credentials.createInsecure();
  return new admin.NodeServiceClient(endpoint.address, channel);
}

export function authMetadata(endpoint: Endpoint): Metadata {
  const metadata = new Metadata();
  metadata.set('authorization', `Bearer ${endpoint.token}`);
  return metadata;
}

/** Turns a gRPC failure into a sentence an operator can act on. */
export function explain(err: ServiceError, endpoint: Endpoint): CliError {
  switch (err.code) {
    case status.UNAUTHENTICATED:
      return new CliError(`the node refused the admin token (${err.details})`);
    case status.UNAVAILABLE:
      return new CliError(`cannot reach the admin API at ${endpoint.address}: is the node running? (${err.details})`);
    case status.DEADLINE_EXCEEDED:
      return new CliError(`the node at ${endpoint.address} did not answer in time`);
    default:
      return new CliError(`${status[err.code] ?? err.code}: ${err.details}`);
  }
}

/**
 * Runs one command against the admin API: the client is closed afterwards, and a gRPC failure
 * becomes an operator-facing CliError.
 */
export async function withAdminApi<T>(
  endpoint: Endpoint,
  timeoutMs: number,
  run: (api: AdminApi) => Promise<T>,
): Promise<T> {
  const api = new AdminApi(endpoint, timeoutMs);
  try {
    return await run(api);
  } catch (err) {
    if ((err as ServiceError).code !== undefined && (err as ServiceError).details !== undefined) {
      throw explain(err as ServiceError, endpoint);
    }
    throw err;
  } finally {
    api.close();
  }
}
