import { packageVersion } from '@cnode/runtime';
import { BLOB_PROTOCOL, SPECIALIZED_INVITE_PROTOCOL, SYNC_PROTOCOL } from '@cnode/bus';

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

/** Inbound streams on these protocols are announced on NET_EVENTS; opens are allowed only on them. */
export const RELAYED_PROTOCOLS: readonly string[] = [SYNC_PROTOCOL, BLOB_PROTOCOL, SPECIALIZED_INVITE_PROTOCOL];
/** Kademlia protocol id (upstream `/calimero/kad/1.0.0`, suffixed like our other protocols). */
export const KAD_PROTOCOL = '/calimero/kad/pb/1';
/** DHT record keys live under this namespace: `/calimero/<hex key>`. */
export const DHT_RECORD_NAMESPACE = 'calimero';
/** Upstream caps DHT record values at 256 bytes. */
export const DHT_MAX_RECORD_BYTES = 256;
export const DHT_MAX_PROVIDERS = 20;

/** Largest gossip message (GOSSIPSUB_MAX_TRANSMIT_SIZE upstream); larger ones are rejected and counted. */
export { GOSSIP_MAX_MESSAGE_BYTES } from '@cnode/primitives';
/**
 * Gossipsub's own RPC cap, above GOSSIP_MAX_MESSAGE_BYTES so that oversize messages reach our
 * validator (and are counted) instead of killing the peer's whole RPC stream.
 */
export const GOSSIP_MAX_RPC_BYTES = 4 * 1024 * 1024;
/** Room for a NetworkEvent's envelope and NATS headers around gossip data on the bus. */
export const BUS_ENVELOPE_MARGIN_BYTES = 16 * 1024;
/** Topic strings: printable ASCII, bounded, so they can be logged and stored safely. */
export const TOPIC_PATTERN = /^[\x21-\x7e]{1,256}$/;

/** Yamux per-stream receive window cap: bounds what a paused relayed stream buffers. */
export const YAMUX_MAX_STREAM_WINDOW_BYTES = 1024 * 1024;

/** Received state deltas queued for STATE_DELTA at most (beyond, dropped and counted). */
export const STATE_DELTA_FORWARD_MAX = 4096;
/** STATE_DELTA publishes in flight at once (pipelined on one connection, stored in send order). */
export const STATE_DELTA_PUBLISH_WINDOW = 64;

/** Peers whose gossip rate and strikes are tracked (least recently heard from are forgotten first), and bans kept. */
export const GOSSIP_GUARD_MAX_PEERS = 4096;
/** Invalid gossip counts against a peer for this long. */
export const PEER_STRIKE_WINDOW_MS = 60_000;
