import { readFileSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Server, ServerCredentials } from '@grpc/grpc-js';
import { HealthImplementation } from 'grpc-health-check';
import { ReflectionService } from '@grpc/reflection';
import { loadFileDescriptorSetFromBuffer } from '@grpc/proto-loader';
import { admin, DESCRIPTOR_SET_PATH } from '@cnode/proto';
import { errorMessage, type Logger, type Startable } from '@cnode/runtime';
import { ADMIN_ENDPOINT_FILE } from '../constants.js';
import type { NodeManagerMetrics } from '../metrics.js';
import { resolveAdminToken } from './admin-token.js';
import { authInterceptor } from './auth-interceptor.js';
import type { ContextDeps } from '../contexts/context-deps.js';
import { contextService } from './context-service.js';
import { groupService } from './group-service.js';
import { blobService } from './blob-service.js';
import { gcService } from './gc-service.js';
import { aliasService } from './alias-service.js';
import { clientTokenService } from './client-token-service.js';
import { applicationService } from './application-service.js';
import { getInfo, type GetInfoDeps } from './get-info.js';
import { unary } from './unary.js';

/** Every service the admin server serves, each with a health status ('' is the server as a whole). */
export const HEALTH_SERVICE_NAMES = [
  '',
  'cnode.admin.v1.NodeService',
  'cnode.admin.v1.ContextService',
  'cnode.admin.v1.GroupService',
  'cnode.admin.v1.BlobService',
  'cnode.admin.v1.AliasService',
  'cnode.admin.v1.ApplicationService',
  'cnode.admin.v1.GcService',
  'cnode.admin.v1.ClientTokenService',
] as const;
/** How often the health statuses follow the service's readiness. */
const HEALTH_REFRESH_MS = 1_000;
/** How long in-flight calls may run after stop() before the server is torn down. */
const SHUTDOWN_GRACE_MS = 5_000;

export interface AdminServerOptions {
  listen: string;
  home: string;
  token: string | undefined;
  tokenFile: string | undefined;
  tlsCertFile: string | undefined;
  tlsKeyFile: string | undefined;
  metrics: NodeManagerMetrics;
  logger: Logger;
  info: Omit<GetInfoDeps, 'logger'>;
  /** Dependencies of ContextService, resolved once the stores exist. */
  contexts: () => ContextDeps;
  /** The service's readiness; the health statuses follow it. */
  isReady: () => boolean;
}

/**
 * The gRPC admin API: NodeService behind token authentication, plus the standard health service
 * (unauthenticated, for probes) and server reflection.
 */
export class AdminServer implements Startable {
  readonly name = 'admin-grpc';
  private server: Server | undefined;
  private readonly health = new HealthImplementation(
    Object.fromEntries(HEALTH_SERVICE_NAMES.map((name) => [name, 'NOT_SERVING'])),
  );
  private healthTimer: NodeJS.Timeout | undefined;
  private serving: boolean | undefined;
  private boundPort: number | undefined;

  constructor(private readonly opts: AdminServerOptions) {}

  /** host:port actually bound (the configured port may be 0). */
  get address(): string | undefined {
    if (this.boundPort === undefined) return undefined;
    return `${this.opts.listen.replace(/:\d+$/, '')}:${this.boundPort}`;
  }

  async start(): Promise<void> {
    const { token, source } = await resolveAdminToken(this.opts);
    const deps = { metrics: this.opts.metrics, logger: this.opts.logger };
    const server = new Server({ interceptors: [authInterceptor(token, this.opts.metrics)] });
    server.addService(admin.NodeServiceService, {
      getInfo: unary('GetInfo', deps, () => getInfo({ ...this.opts.info, logger: this.opts.logger })),
    } satisfies admin.NodeServiceServer);
    server.addService(admin.ContextServiceService, contextService(this.opts.contexts()));
    server.addService(admin.GroupServiceService, groupService(this.opts.contexts()));
    server.addService(admin.BlobServiceService, blobService(this.opts.contexts()));
    server.addService(admin.AliasServiceService, aliasService(this.opts.contexts()));
    server.addService(admin.ApplicationServiceService, applicationService(this.opts.contexts()));
    server.addService(admin.GcServiceService, gcService(this.opts.contexts()));
    server.addService(admin.ClientTokenServiceService, clientTokenService(this.opts.contexts()));
    this.health.addToServer(server);
    new ReflectionService(loadFileDescriptorSetFromBuffer(readFileSync(DESCRIPTOR_SET_PATH))).addToServer(server);

    const credentials =
      this.opts.tlsCertFile && this.opts.tlsKeyFile
        ? ServerCredentials.createSsl(
            null,
            [{ cert_chain: readFileSync(this.opts.tlsCertFile), private_key: readFileSync(this.opts.tlsKeyFile) }],
            false,
          )
        : ServerCredentials.createInsecure();
    this.boundPort = await new Promise<number>((resolve, reject) =>
      server.bindAsync(this.opts.listen, credentials, (err, port) => (err ? reject(err) : resolve(port))),
    );
    this.server = server;
    // A convenience for the local CLI: a read-only home (containers) must not stop the node.
    await this.writeEndpointFile(source).catch((err: unknown) =>
      this.opts.logger.warn({ home: this.opts.home, err: errorMessage(err) }, 'Could not write admin.json'),
    );
    this.opts.logger.info(
      { address: this.address, tokenSource: source, tls: Boolean(this.opts.tlsCertFile) },
      'Admin gRPC listening',
    );
  }

  afterStart(): void {
    // Health follows readiness (NATS, Postgres and Redis reachable, consumers running), so a probe
    // sees the node-manager pod not ready while a dependency is down.
    const refresh = (): void => {
      const serving = this.opts.isReady();
      if (serving === this.serving) return;
      this.serving = serving;
      for (const name of HEALTH_SERVICE_NAMES) this.health.setStatus(name, serving ? 'SERVING' : 'NOT_SERVING');
    };
    refresh();
    this.healthTimer = setInterval(refresh, HEALTH_REFRESH_MS);
    this.healthTimer.unref();
  }

  /** Lets the local `cnode` CLI find this node: address and where the token is (never the token). */
  private async writeEndpointFile(tokenSource: string): Promise<void> {
    await mkdir(this.opts.home, { recursive: true, mode: 0o700 });
    const endpoint = {
      address: this.address,
      tls: Boolean(this.opts.tlsCertFile),
      tokenFile: tokenSource === 'ADMIN_TOKEN' ? undefined : tokenSource,
    };
    await writeFile(join(this.opts.home, ADMIN_ENDPOINT_FILE), `${JSON.stringify(endpoint, null, 2)}\n`, {
      mode: 0o600,
    });
  }

  async stop(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    if (!server) return;
    clearInterval(this.healthTimer);
    for (const name of HEALTH_SERVICE_NAMES) this.health.setStatus(name, 'NOT_SERVING');
    await new Promise<void>((resolve) => {
      const timer = setTimeout(() => {
        server.forceShutdown();
        resolve();
      }, SHUTDOWN_GRACE_MS);
      server.tryShutdown(() => {
        clearTimeout(timer);
        resolve();
      });
    });
  }
}
