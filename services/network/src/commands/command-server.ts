import type { Subscription } from '@nats-io/nats-core';
import { bus } from '@cnode/proto';
import { NetworkCommand, respondError, type Catalog, type Codec, type NatsComponent } from '@cnode/bus';
import { errorMessage, isCodedError, type Logger, type Startable } from '@cnode/runtime';
import { COMMAND_QUEUE_GROUP } from '../constants.js';
import type { NetworkMetrics } from '../metrics.js';
import type { CommandContext } from './context.js';
import { handleDhtFindProviders } from './dht-find-providers.js';
import { handleDhtGetRecord } from './dht-get-record.js';
import { handleDhtProvide } from './dht-provide.js';
import { handleDhtPutRecord } from './dht-put-record.js';
import { handleDial } from './dial.js';
import { handleInfo } from './info.js';
import { handleInjectFaults } from './inject-faults.js';
import { handleListPeers } from './list-peers.js';
import { handleOpenStream } from './open-stream.js';
import { handlePublish } from './publish.js';
import { handleReportPeer } from './report-peer.js';
import { handleSubscribe } from './subscribe.js';
import { handleTopicPeers } from './topic-peers.js';
import { handleUnsubscribe } from './unsubscribe.js';

/**
 * Serves the network commands (upstream's NetworkClient) over NATS request/reply: one subscription
 * per command in a queue group. A request that does not decode, or a handler that throws, gets an
 * error reply with the error's code; nothing a caller sends can crash the service.
 */
export class CommandServer implements Startable {
  readonly name = 'network-commands';
  private readonly subscriptions: Subscription[] = [];

  constructor(
    private readonly ctx: CommandContext,
    private readonly deps: { catalog: Catalog; nats: NatsComponent; metrics: NetworkMetrics; logger: Logger },
  ) {}

  async start(): Promise<void> {
    const c = this.ctx;
    this.serve(NetworkCommand.Info, bus.NetworkInfoRequest, bus.NetworkInfoResponse, () => handleInfo(c));
    this.serve(NetworkCommand.Subscribe, bus.SubscribeRequest, bus.SubscribeResponse, (r) => handleSubscribe(c, r));
    this.serve(NetworkCommand.Unsubscribe, bus.UnsubscribeRequest, bus.UnsubscribeResponse, (r) =>
      handleUnsubscribe(c, r),
    );
    this.serve(NetworkCommand.Publish, bus.PublishRequest, bus.PublishResponse, (r) => handlePublish(c, r));
    this.serve(NetworkCommand.ReportPeer, bus.ReportPeerRequest, bus.ReportPeerResponse, (r) => handleReportPeer(c, r));
    const faults = c.faults;
    if (faults) {
      this.serve(NetworkCommand.InjectFaults, bus.InjectFaultsRequest, bus.InjectFaultsResponse, (r) =>
        handleInjectFaults(faults, r),
      );
    }
    this.serve(NetworkCommand.OpenStream, bus.OpenStreamRequest, bus.OpenStreamResponse, (r) => handleOpenStream(c, r));
    this.serve(NetworkCommand.Dial, bus.DialRequest, bus.DialResponse, (r) => handleDial(c, r));
    this.serve(NetworkCommand.ListPeers, bus.ListPeersRequest, bus.ListPeersResponse, () => handleListPeers(c));
    this.serve(NetworkCommand.TopicPeers, bus.TopicPeersRequest, bus.TopicPeersResponse, (r) => handleTopicPeers(c, r));
    this.serve(NetworkCommand.DhtProvide, bus.DhtProvideRequest, bus.DhtProvideResponse, (r) => handleDhtProvide(c, r));
    this.serve(NetworkCommand.DhtFindProviders, bus.DhtFindProvidersRequest, bus.DhtFindProvidersResponse, (r) =>
      handleDhtFindProviders(c, r),
    );
    this.serve(NetworkCommand.DhtPutRecord, bus.DhtPutRecordRequest, bus.DhtPutRecordResponse, (r) =>
      handleDhtPutRecord(c, r),
    );
    this.serve(NetworkCommand.DhtGetRecord, bus.DhtGetRecordRequest, bus.DhtGetRecordResponse, (r) =>
      handleDhtGetRecord(c, r),
    );
  }

  private serve<Req, Res>(
    command: NetworkCommand,
    reqCodec: Codec<Req>,
    resCodec: Codec<Res>,
    handler: (req: Req) => Res | Promise<Res>,
  ): void {
    const subject = this.deps.catalog.subjects.netCommand(command);
    const sub = this.deps.nats.nc.subscribe(subject, {
      queue: COMMAND_QUEUE_GROUP,
      callback: (err, msg) => {
        if (err) {
          this.deps.logger.warn({ command, err: errorMessage(err) }, 'Command subscription error');
          return;
        }
        Promise.resolve()
          .then(() => handler(reqCodec.decode(msg.data)))
          .then(
            (res) => {
              msg.respond(resCodec.encode(res).finish());
              this.deps.metrics.commands.inc({ command, outcome: 'ok' });
            },
            (error: unknown) => {
              const code = isCodedError(error) ? error.code : 'NETWORK_COMMAND_FAILED';
              respondError(msg, code, errorMessage(error));
              this.deps.metrics.commands.inc({ command, outcome: 'error' });
              this.deps.logger.debug({ command, code, err: errorMessage(error) }, 'Network command refused');
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
