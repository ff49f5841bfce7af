import { lookup } from 'node:dns/promises';
import http, { type IncomingMessage } from 'node:http';
import https from 'node:https';
import type { LookupFunction } from 'node:net';
import ipaddr from 'ipaddr.js';
import { AppError, AppErrorCode } from './app-errors.js';

export interface UrlFetchLimits {
  /** Loopback targets are allowed (tests and single-host setups only); other private ranges never are. */
  allowLoopback: boolean;
  maxBytes: number;
  maxRedirects: number;
  connectTimeoutMs: number;
  totalTimeoutMs: number;
}

/** Upstream's limits for `install_application_from_url`. */
export const DEFAULT_URL_LIMITS: Omit<UrlFetchLimits, 'allowLoopback' | 'maxBytes'> = {
  maxRedirects: 10,
  connectTimeoutMs: 15_000,
  totalTimeoutMs: 300_000,
};

/**
 * Whether an address may be fetched from: only public unicast (ipaddr.js ranges; an IPv4-mapped
 * IPv6 address is judged as the IPv4 it carries). Loopback, private, link-local, CGNAT,
 * unspecified, broadcast, unique-local, multicast and reserved ranges are refused.
 */
export function isFetchableAddress(address: string, allowLoopback: boolean): boolean {
  let parsed: ipaddr.IPv4 | ipaddr.IPv6;
  try {
    parsed = ipaddr.process(address);
  } catch {
    return false;
  }
  const range = parsed.range();
  return range === 'unicast' || (allowLoopback && range === 'loopback');
}

function forbidden(message: string): AppError {
  return new AppError(AppErrorCode.UrlForbidden, message);
}

function failed(message: string): AppError {
  return new AppError(AppErrorCode.UrlFailed, message);
}

/** The URL's host resolved and vetted: every address it has must be fetchable; the first is used. */
async function vettedAddress(url: URL, limits: UrlFetchLimits): Promise<{ address: string; family: number }> {
  if (url.protocol !== 'http:' && url.protocol !== 'https:')
    throw forbidden(`only http and https URLs are installed from, not ${url.protocol}`);
  const host = url.hostname.replace(/^\[|\]$/g, '');
  let addresses: { address: string; family: number }[];
  try {
    addresses = await lookup(host, { all: true, verbatim: true });
  } catch (err) {
    throw failed(`cannot resolve ${host}: ${(err as Error).message}`);
  }
  const refused = addresses.find((a) => !isFetchableAddress(a.address, limits.allowLoopback));
  if (addresses.length === 0 || refused)
    throw forbidden(`${host} resolves to ${refused?.address ?? 'nothing'}, which is not a public address`);
  return addresses[0]!;
}

/** One request to a vetted address (pinned: the connection goes where the check looked, no re-resolution). */
function requestOnce(
  url: URL,
  target: { address: string; family: number },
  limits: UrlFetchLimits,
  signal: AbortSignal,
): Promise<IncomingMessage> {
  const pinned: LookupFunction = (_host, options, callback) => {
    if ((options as { all?: boolean }).all) callback(null, [target]);
    else callback(null, target.address, target.family);
  };
  return new Promise((resolve, reject) => {
    const request = (url.protocol === 'https:' ? https : http).get(url, {
      lookup: pinned,
      signal,
      headers: { 'user-agent': 'cnode-node-manager', accept: '*/*' },
    });
    request.once('socket', (socket) => {
      const timer = setTimeout(
        () => request.destroy(failed(`no connection to ${url.host} within ${limits.connectTimeoutMs} ms`)),
        limits.connectTimeoutMs,
      );
      socket.once('connect', () => clearTimeout(timer));
      socket.once('secureConnect', () => clearTimeout(timer));
      socket.once('close', () => clearTimeout(timer));
    });
    request.once('response', resolve);
    request.once('error', (err) => reject(err instanceof AppError ? err : failed(`${url.host}: ${err.message}`)));
  });
}

/**
 * Downloads a URL with upstream's SSRF guard: http(s) only, every hop's host resolved and refused
 * unless public, connections pinned to the vetted address, at most `maxRedirects` redirects (each
 * vetted again), a connect and a total deadline, and the body cut off past `maxBytes`. Yields the
 * body as it arrives; the caller stores it as it goes.
 */
export async function* fetchGuarded(rawUrl: string, limits: UrlFetchLimits): AsyncGenerator<Buffer> {
  let url: URL;
  try {
    url = new URL(rawUrl);
  } catch {
    throw forbidden(`not a URL: ${rawUrl.slice(0, 200)}`);
  }
  const signal = AbortSignal.timeout(limits.totalTimeoutMs);
  for (let redirects = 0; ; redirects++) {
    const response = await requestOnce(url, await vettedAddress(url, limits), limits, signal);
    const status = response.statusCode ?? 0;
    if (status >= 300 && status < 400 && response.headers.location) {
      response.resume();
      if (redirects >= limits.maxRedirects) throw failed(`more than ${limits.maxRedirects} redirects`);
      url = new URL(response.headers.location, url);
      continue;
    }
    if (status < 200 || status >= 300) {
      response.resume();
      throw failed(`${url.host} answered ${status}`);
    }
    const declared = Number(response.headers['content-length'] ?? -1);
    if (declared > limits.maxBytes) {
      response.destroy();
      throw failed(`the download is ${declared} bytes, more than ${limits.maxBytes}`);
    }
    let received = 0;
    try {
      for await (const piece of response as AsyncIterable<Buffer>) {
        received += piece.length;
        if (received > limits.maxBytes) throw failed(`the download is larger than ${limits.maxBytes} bytes`);
        yield piece;
      }
    } catch (err) {
      response.destroy();
      if (err instanceof AppError) throw err;
      throw failed(`download from ${url.host} failed: ${(err as Error).message}`);
    }
    return;
  }
}
