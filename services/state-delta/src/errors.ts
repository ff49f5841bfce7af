export enum StateDeltaErrorCode {
  /** A governance drain request found the context's drain running: the request is redelivered. */
  DrainBusy = 'STATE_DELTA_DRAIN_BUSY',
}
