/** Largest frame on a relayed stream (upstream MAX_MESSAGE_SIZE); larger ones reset the stream. */
export const MAX_FRAME_BYTES = 8 * 1024 * 1024;

/** Largest piece of a frame in one NATS message: well under any broker's max_payload. */
export const RELAY_CHUNK_BYTES = 64 * 1024;

/** Stream ids are chosen by whoever opens the relay and become a NATS subject token. */
export const STREAM_ID_PATTERN = /^[A-Za-z0-9_-]{8,64}$/;

/** Why a relayed stream was reset. Metric label values and RelayReset reasons. */
export enum RelayResetReason {
  /** A relay message was lost or reordered: the byte stream can no longer be trusted. */
  RelayGap = 'relay_gap',
  IdleTimeout = 'idle_timeout',
  FrameTooLarge = 'frame_too_large',
  /** Chunks that do not add up to the announced frame, or a protocol violation. */
  BadFrame = 'bad_frame',
  /** The sender exceeded the credit it was granted. */
  CreditExceeded = 'credit_exceeded',
  /** The remote peer reset the libp2p stream. */
  RemoteReset = 'remote_reset',
  /** The owner (the process speaking the protocol) reset it. */
  OwnerReset = 'owner_reset',
  /** Nobody attached to an inbound stream in time. */
  NotAccepted = 'not_accepted',
  /** The network service is shutting down or lost the stream. */
  NetworkGone = 'network_gone',
}
