import {
  AckPolicy,
  DeliverPolicy,
  DiscardPolicy,
  RetentionPolicy,
  StorageType,
  type JetStreamManager,
  type StreamConfig,
  type ConsumerConfig,
} from '@nats-io/jetstream';
import { nanos } from '@nats-io/nats-core';
import { StreamRetention, type ConsumerSpec, type StreamSpec } from './catalog.js';

function streamConfig(spec: StreamSpec): Partial<StreamConfig> & { name: string } {
  return {
    name: spec.name,
    subjects: spec.subjects,
    retention: spec.retention === StreamRetention.WorkQueue ? RetentionPolicy.Workqueue : RetentionPolicy.Limits,
    storage: StorageType.File,
    max_msgs: spec.maxMsgs,
    max_bytes: spec.maxBytes,
    max_age: nanos(spec.maxAgeMs),
    discard: spec.discard === 'new' ? DiscardPolicy.New : DiscardPolicy.Old,
    duplicate_window: nanos(spec.duplicateWindowMs),
    num_replicas: 1,
  };
}

function consumerConfig(spec: ConsumerSpec): Partial<ConsumerConfig> & { durable_name: string } {
  return {
    durable_name: spec.durable,
    ack_policy: AckPolicy.Explicit,
    deliver_policy: DeliverPolicy.All,
    max_ack_pending: spec.maxAckPending,
    max_deliver: spec.maxDeliver,
    ack_wait: nanos(spec.ackWaitMs),
    ...(spec.filterSubject ? { filter_subject: spec.filterSubject } : {}),
  };
}

function isNotFound(err: unknown): boolean {
  const e = err as { code?: unknown; status?: unknown; message?: string };
  return e.status === 404 || /not found/i.test(e.message ?? '');
}

/**
 * Creates the stream, or updates it to the spec when it exists. Safe to run from every replica at
 * every start: JetStream applies identical configs as a no-op.
 */
export async function ensureStream(jsm: JetStreamManager, spec: StreamSpec): Promise<void> {
  const config = streamConfig(spec);
  try {
    await jsm.streams.info(spec.name);
  } catch (err) {
    if (!isNotFound(err)) throw err;
    try {
      await jsm.streams.add(config);
      return;
    } catch (addErr) {
      // Another replica created it between our info and add: fall through to update.
      if (!/already in use/i.test((addErr as Error).message)) throw addErr;
    }
  }
  await jsm.streams.update(spec.name, config);
}

/** Creates the durable consumer, or updates its limits when it exists. */
export async function ensureConsumer(jsm: JetStreamManager, spec: ConsumerSpec): Promise<void> {
  const config = consumerConfig(spec);
  try {
    await jsm.consumers.info(spec.stream, spec.durable);
  } catch (err) {
    if (!isNotFound(err)) throw err;
    try {
      await jsm.consumers.add(spec.stream, config);
      return;
    } catch (addErr) {
      if (!/already (in use|exists)/i.test((addErr as Error).message)) throw addErr;
    }
  }
  const { durable_name: _durable, ...update } = config;
  await jsm.consumers.update(spec.stream, spec.durable, update);
}

/** Deletes streams (tests and `cnode` teardown); missing ones are fine. */
export async function deleteStreams(jsm: JetStreamManager, names: string[]): Promise<void> {
  for (const name of names) {
    try {
      await jsm.streams.delete(name);
    } catch (err) {
      if (!isNotFound(err)) throw err;
    }
  }
}
