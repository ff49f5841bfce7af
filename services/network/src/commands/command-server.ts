import type { Subscription, Msg } from '@nats-io/nats-core';
import { bus } from '@cnode/proto';
import { NetworkCommand, respondError, type Catalog, type NatsComponent } from '@cnode/bus';
import { errorMessage, isCodedError, type Logger, type Startable } from '@cnode/runtime';
import { COMMAND_QUEUE_GROUP } from '../constants.js';
import type { Libp2pHost } from '../host/libp2p-host.js';
import type { NetworkMetrics } from '../metrics.js';
import { handleInfo } from './info.js';

/**
 * Serves the network commands (the seed's NetworkClient) over NATS request/reply. One subscription
 * per command in a queue group; each reply is the command's response message, or an error reply.
 */
export class CommandServer implements Startable {
  readonly name = 'network-commands';
  private readonly subscriptions: Subscription[] = [];

  constructor(
    private readonly deps: {
      catalog: Catalog;
      nats: NatsComponent;
      host: Libp2pHost;
      metrics: NetworkMetrics;
      logger: Logger;
    },
  ) {}

  async start(): Promise<void> {
    this.serve(NetworkCommand.Info, (msg) => {
      bus.NetworkInfoRequest.decode(msg.data);
      return bus.NetworkInfoResponse.encode(handleInfo(this.deps.host)).finish();
    });
  }

  private serve(command: NetworkCommand, handler: (msg: Msg) => Uint8Array | Promise<Uint8Array>): void {
    const subject = this.deps.catalog.subjects.netCommand(command);
    const sub = this.deps.nats.nc.subscribe(subject, {
      queue: COMMAND_QUEUE_GROUP,
      callback: (err, msg) => {
        if (err) {
          this.deps.logger.warn({ command, err: errorMessage(err) }, 'Command subscription error');
          return;
        }
        Promise.resolve()
          .then(() => handler(msg))
          .then(
            (reply) => {
              msg.respond(reply);
              this.deps.metrics.commands.inc({ command, outcome: 'ok' });
            },
            (error: unknown) => {
              const code = isCodedError(error) ? error.code : 'NETWORK_COMMAND_FAILED';
              respondError(msg, code, errorMessage(error));
              this.deps.metrics.commands.inc({ command, outcome: 'error' });
              this.deps.logger.warn({ command, code, err: errorMessage(error) }, 'Network command failed');
            },
          );
      },
    });
    this.subscriptions.push(sub);
  }

  async stop(): Promise<void> {
    for (const sub of this.subscriptions.splice(0)) await sub.drain();
  }
}
