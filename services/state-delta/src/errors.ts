export enum StateDeltaErrorCode {
  /** A governance drain request found the context's drain running: the request is redelivered. */
  DrainBusy = 'STATE_DELTA_DRAIN_BUSY',
  /** Another replica's lane held the context past the wait: the batch is redelivered. */
  LaneBusy = 'STATE_DELTA_LANE_BUSY',
}
