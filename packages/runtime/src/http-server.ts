import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Gauge, type Registry } from 'prom-client';
import type { Startable } from './lifecycle.js';

export interface HealthServerOptions {
  host: string;
  port: number;
  registry: Registry;
  /** True while the service does its job (consumers running, connections up). */
  isReady: () => boolean;
}

/**
 * `GET /livez` (the process answers), `GET /readyz` (200 only while ready), `GET /metrics`
 * (Prometheus text format). Nothing else is served.
 */
export class HealthServer implements Startable {
  readonly name = 'health-http';
  private server: Server | undefined;

  constructor(private readonly opts: HealthServerOptions) {
    // What /readyz answers, as a series: alerts see a service not ready, or flapping.
    new Gauge({
      name: 'cnode_ready',
      help: '1 while the service is ready (what /readyz answers), else 0',
      registers: [opts.registry],
      collect() {
        this.set(opts.isReady() ? 1 : 0);
      },
    });
  }

  /** The bound address, once started (port 0 picks a free port). */
  get address(): AddressInfo | undefined {
    const addr = this.server?.address();
    return addr && typeof addr === 'object' ? addr : undefined;
  }

  async start(): Promise<void> {
    const server = createServer((req, res) => {
      const path = (req.url ?? '/').split('?')[0];
      if (req.method !== 'GET') {
        res.writeHead(405, { allow: 'GET' }).end();
      } else if (path === '/livez') {
        res.writeHead(200, { 'content-type': 'text/plain' }).end('ok\n');
      } else if (path === '/readyz') {
        const ready = this.opts.isReady();
        res.writeHead(ready ? 200 : 503, { 'content-type': 'text/plain' }).end(ready ? 'ready\n' : 'not ready\n');
      } else if (path === '/metrics') {
        this.opts.registry.metrics().then(
          (text) => res.writeHead(200, { 'content-type': this.opts.registry.contentType }).end(text),
          (err: unknown) => res.writeHead(500).end(String(err)),
        );
      } else {
        res.writeHead(404).end();
      }
    });
    // Keep-alive sockets from scrapers must not hold shutdown open.
    server.keepAliveTimeout = 5_000;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.opts.port, this.opts.host, () => {
        server.off('error', reject);
        resolve();
      });
    });
    this.server = server;
  }

  async stop(): Promise<void> {
    const server = this.server;
    if (!server) return;
    this.server = undefined;
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }
}
