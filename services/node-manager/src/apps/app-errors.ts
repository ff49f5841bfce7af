import { CodedError } from '@cnode/runtime';

/** Why an install from a URL was refused (bundle refusals are the APP_BUNDLE_* codes). */
export enum AppErrorCode {
  /** Not http(s), or a target (or a redirect) that is loopback, private, link-local or otherwise not public. */
  UrlForbidden = 'APP_URL_FORBIDDEN',
  /** The download failed: connection, status, timeout, too many redirects, or larger than allowed. */
  UrlFailed = 'APP_URL_FAILED',
  /** A path that cannot be read. */
  PathUnreadable = 'APP_PATH_UNREADABLE',
  /** The blob named is neither here nor obtainable. */
  BlobMissing = 'APP_BLOB_MISSING',
}

export class AppError extends CodedError<AppErrorCode> {
  constructor(code: AppErrorCode, message: string) {
    super(code, message);
    this.name = 'AppError';
  }
}
