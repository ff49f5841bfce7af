import { status, type ServerWritableStream } from '@grpc/grpc-js';
import { DeliverPolicy, type ConsumerMessages } from '@nats-io/jetstream';
import { contextTopic } from '@cnode/context-core';
import { admin } from '@cnode/proto';
import { errorMessage } from '@cnode/runtime';
import type { ContextDeps } from '../../contexts/context-deps.js';
import { requireContext } from '../../contexts/context-access.js';
import { AdminCallError, AdminErrorCode } from '../admin-errors.js';

/** Event subscriptions served at once; one more is RESOURCE_EXHAUSTED. */
export const MAX_EVENT_SUBSCRIBERS = 64;
let active = 0;

/**
 * ContextService.SubscribeEvents: an ordered (ephemeral) JetStream consumer on NODE_EVENTS, filtered
 * to one context or not, from a sequence or from now. Each event goes out with its stream sequence,
 * so a client resumes after a disconnect with `from_sequence = last + 1`. A slow client holds back
 * only its own consumer (the write waits for the gRPC stream to drain).
 */
export async function subscribeEvents(
  deps: ContextDeps,
  call: ServerWritableStream<admin.SubscribeEventsRequest, admin.SubscribeEventsResponse>,
): Promise<void> {
  const req = call.request;
  const filter = req.contextId
    ? deps.catalog.subjects.nodeEventFor(contextTopic((await requireContext(deps, req.contextId)).id))
    : deps.catalog.subjects.nodeEvents;
  if (active >= MAX_EVENT_SUBSCRIBERS) {
    throw new AdminCallError(
      status.RESOURCE_EXHAUSTED,
      AdminErrorCode.TooManySubscribers,
      `at most ${MAX_EVENT_SUBSCRIBERS} event subscribers`,
    );
  }
  active++;
  let messages: ConsumerMessages | undefined;
  const close = (): void => void messages?.close();
  call.on('cancelled', close);
  call.on('close', close);
  try {
    const fromSequence = Number(req.fromSequence);
    const consumer = await deps.js().consumers.get(deps.catalog.streams.nodeEvents.name, {
      filter_subjects: filter,
      ...(fromSequence > 0
        ? { deliver_policy: DeliverPolicy.StartSequence, opt_start_seq: fromSequence }
        : { deliver_policy: DeliverPolicy.New }),
    });
    messages = await consumer.consume({ max_messages: 256 });
    if (call.cancelled) return;
    for await (const msg of messages) {
      let event: admin.NodeEvent;
      try {
        event = admin.NodeEvent.decode(msg.data);
      } catch (err) {
        deps.logger.warn({ seq: msg.seq, err: errorMessage(err) }, 'Skipping an undecodable node event');
        continue;
      }
      const writable = call.write({ sequence: BigInt(msg.seq), event });
      if (!writable) await new Promise<void>((resolve) => call.once('drain', resolve));
      if (call.cancelled) break;
    }
  } finally {
    active--;
    close();
  }
}
