import type { NatsConnection, Subscription } from '@nats-io/nats-core';
import { bus } from '@cnode/proto';

export type RelayKind = NonNullable<bus.RelayMessage['kind']>;

/**
 * One end of a relayed stream's channel on core NATS: sends sequenced RelayMessages on one subject,
 * receives on the other and checks that the sequence has no gap. Core NATS may drop messages (slow
 * consumer, reconnect); a gap is reported, never papered over.
 */
export class RelayChannel {
  private sendSeq = 0n;
  private expectSeq = 0n;
  private readonly subscription: Subscription;
  private closed = false;

  constructor(
    private readonly nc: NatsConnection,
    private readonly outSubject: string,
    inSubject: string,
    handlers: { onMessage(kind: RelayKind): void; onGap(expected: bigint, got: bigint): void; onUndecodable(): void },
  ) {
    this.subscription = nc.subscribe(inSubject, {
      callback: (err, msg) => {
        if (err || this.closed) return;
        let message: bus.RelayMessage;
        try {
          message = bus.RelayMessage.decode(msg.data);
        } catch {
          handlers.onUndecodable();
          return;
        }
        if (message.seq !== this.expectSeq) {
          handlers.onGap(this.expectSeq, message.seq);
          return;
        }
        this.expectSeq++;
        if (message.kind) handlers.onMessage(message.kind);
      },
    });
  }

  send(kind: RelayKind): void {
    if (this.closed) return;
    this.nc.publish(this.outSubject, bus.RelayMessage.encode({ seq: this.sendSeq++, kind }).finish());
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.subscription.unsubscribe();
  }
}
