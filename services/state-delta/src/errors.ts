import { CodedError } from '@cnode/runtime';

export enum StateDeltaErrorCode {
  /** Redis, which holds the sync-session flags, did not answer. */
  CoordinationUnavailable = 'SD_COORDINATION_UNAVAILABLE',
}

export class StateDeltaError extends CodedError<StateDeltaErrorCode> {}
