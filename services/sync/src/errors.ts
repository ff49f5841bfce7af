import { CodedError } from '@cnode/runtime';

export enum SyncErrorCode {
  /** Every sync permit (SYNC_MAX_CONCURRENT across replicas) is taken: the request is redelivered. */
  NoPermit = 'SYNC_NO_PERMIT',
}

export class SyncError extends CodedError<SyncErrorCode> {}
