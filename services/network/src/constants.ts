import { packageVersion } from '@cnode/runtime';

export const SERVICE_NAME = 'network';
export const VERSION = packageVersion(import.meta.url);

/**
 * Events waiting to be published on NET_EVENTS. libp2p callbacks only enqueue here, so a slow or full
 * NATS never blocks the libp2p event loop; overflow is dropped and counted. Mirrors upstream
 * NETWORK_EVENT_CHANNEL_SIZE (1000), rounded to a power of two.
 */
export const NET_EVENTS_OUTBOX_MAX = 1024;

/** Associated data that binds the sealed libp2p key to its purpose. */
export const IDENTITY_SEAL_AAD = 'cnode/libp2p-identity/v1';

/** NATS queue group of the command responders: one replica answers each command. */
export const COMMAND_QUEUE_GROUP = 'network';
