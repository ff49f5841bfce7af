import { status } from '@grpc/grpc-js';
import { fromBase58 } from '@cnode/primitives';
import { CodedError } from '@cnode/runtime';

/** Codes of refused admin calls; the gRPC status says what kind of refusal it is. */
export enum AdminErrorCode {
  BadArgument = 'ADMIN_BAD_ARGUMENT',
  ContextUnknown = 'ADMIN_CONTEXT_UNKNOWN',
  IdentityUnknown = 'ADMIN_IDENTITY_UNKNOWN',
  NotAdmin = 'ADMIN_NOT_ADMIN',
  NotMember = 'ADMIN_NOT_MEMBER',
  AlreadyJoined = 'ADMIN_ALREADY_JOINED',
  BadInvitation = 'ADMIN_BAD_INVITATION',
  ApplicationUnknown = 'ADMIN_APPLICATION_UNKNOWN',
  NoGroupKey = 'ADMIN_NO_GROUP_KEY',
  ContextNotReady = 'ADMIN_CONTEXT_NOT_READY',
  TooManySubscribers = 'ADMIN_TOO_MANY_SUBSCRIBERS',
  SyncUnavailable = 'ADMIN_SYNC_UNAVAILABLE',
  GroupUnknown = 'ADMIN_GROUP_UNKNOWN',
  GovernanceConflict = 'ADMIN_GOVERNANCE_CONFLICT',
  GovernanceRefused = 'ADMIN_GOVERNANCE_REFUSED',
}

/** An admin call refused on purpose: carries the gRPC status the caller sees. */
export class AdminCallError extends CodedError<AdminErrorCode> {
  constructor(
    readonly grpcCode: status,
    code: AdminErrorCode,
    message: string,
  ) {
    super(code, message);
    this.name = 'AdminCallError';
  }
}

export const badArgument = (message: string): AdminCallError =>
  new AdminCallError(status.INVALID_ARGUMENT, AdminErrorCode.BadArgument, message);

/** A required base58 id from a request field, or INVALID_ARGUMENT naming the field. */
export function idArg(text: string, field: string): Buffer {
  if (!text) throw badArgument(`${field} is required`);
  try {
    return fromBase58(text, field);
  } catch (err) {
    throw badArgument(`${field}: ${(err as Error).message}`);
  }
}
