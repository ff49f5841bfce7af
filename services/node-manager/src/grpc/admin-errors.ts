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
  BlobUnknown = 'ADMIN_BLOB_UNKNOWN',
  BlobInUse = 'ADMIN_BLOB_IN_USE',
  BlobTooLargeForBytes = 'ADMIN_BLOB_TOO_LARGE_FOR_BYTES',
  AliasUnknown = 'ADMIN_ALIAS_UNKNOWN',
  /** No gc replica answered a run request (none is running, or none holds the lease yet). */
  GcUnavailable = 'ADMIN_GC_UNAVAILABLE',
  /** Too many writes wait to commit (group commit queues are full). */
  WritesBusy = 'ADMIN_WRITES_BUSY',
  /** An application update that is no upgrade: another package, or a version that is not newer. */
  NotAnUpgrade = 'ADMIN_NOT_AN_UPGRADE',
  /** A mutating method called by a caller allowed view methods only (a read-only client token). */
  ViewOnly = 'ADMIN_VIEW_ONLY',
  /** No client token grant with that id. */
  GrantUnknown = 'ADMIN_GRANT_UNKNOWN',
  /** This node runs with NODE_MODE=read-only: it writes no state and signs no governance op. */
  NodeReadOnly = 'NODE_READ_ONLY',
  /** The acting identity is a read-only member of the context's group: it may call views only. */
  MemberReadOnly = 'ADMIN_MEMBER_READ_ONLY',
  /** SPECIALIZED_INVITES_MAX specialized-node invites are pending. */
  TooManyInvites = 'ADMIN_TOO_MANY_INVITES',
}

/**
 * The gRPC status of errors the stores and packages raise by code (the caller's mistake, not ours):
 * anything else without a status is INTERNAL.
 */
const CODED_ERROR_STATUS: Readonly<Record<string, status>> = {
  STORE_BLOB_SIZE_MISMATCH: status.INVALID_ARGUMENT,
  STORE_BLOB_HASH_MISMATCH: status.INVALID_ARGUMENT,
  STORE_BLOB_TOO_LARGE: status.INVALID_ARGUMENT,
  STORE_BLOB_CORRUPT: status.DATA_LOSS,
  STORE_BLOB_CHUNK_LOST: status.ABORTED,
  STORE_ALIAS_INVALID: status.INVALID_ARGUMENT,
  STORE_ALIAS_EXISTS: status.ALREADY_EXISTS,
  STORE_ALIAS_SCOPE_REQUIRED: status.INVALID_ARGUMENT,
  STORE_ALIAS_SCOPE_NOT_ALLOWED: status.INVALID_ARGUMENT,
  BLOB_FETCH_NO_PROVIDER: status.NOT_FOUND,
  BLOB_FETCH_UNKNOWN_CONTEXT: status.NOT_FOUND,
  BLOB_FETCH_NO_IDENTITY: status.FAILED_PRECONDITION,
};

/** The status a refused call carries: its own, or the one its code maps to. */
export function grpcStatusOf(err: unknown): status | undefined {
  const own = (err as { grpcCode?: status } | null)?.grpcCode;
  if (own !== undefined) return own;
  const code = (err as { code?: unknown } | null)?.code;
  if (typeof code !== 'string') return undefined;
  return CODED_ERROR_STATUS[code] ?? (code.startsWith('APP_') ? status.INVALID_ARGUMENT : undefined);
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

/** A hex SHA-256 from a request field (empty: none), or INVALID_ARGUMENT naming the field. */
export function optionalHashArg(text: string, field: string): Buffer | undefined {
  if (!text) return undefined;
  if (!/^[0-9a-fA-F]{64}$/.test(text)) throw badArgument(`${field}: expected 64 hex characters (a SHA-256)`);
  return Buffer.from(text, 'hex');
}

/** A required base58 id from a request field, or INVALID_ARGUMENT naming the field. */
export function idArg(text: string, field: string): Buffer {
  if (!text) throw badArgument(`${field} is required`);
  try {
    return fromBase58(text, field);
  } catch (err) {
    throw badArgument(`${field}: ${(err as Error).message}`);
  }
}
