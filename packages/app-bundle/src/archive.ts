import { Readable, Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGunzip, createGzip } from 'node:zlib';
import tar from 'tar-stream';
import { BundleError, BundleErrorCode } from './errors.js';
import { checkSafePath } from './manifest.js';

/** One file of an archive being read; `body` must be consumed (or is drained) before the next. */
export interface ArchiveEntry {
  /** Normalised path (no leading `./`). */
  path: string;
  size: number;
  /** Decompressed bytes of the archive before this entry's header. */
  offset: number;
  body: AsyncIterable<Buffer>;
}

/** Return `false` to stop reading (the rest of the archive is not decompressed). */
export type EntryVisitor = (entry: ArchiveEntry) => Promise<boolean | void>;

/**
 * Reads a gzip tar as a stream, one entry at a time, never holding more than the entry's current
 * piece. Every entry's path is checked (absolute, `..`, backslashes are refused) and only regular
 * files and directories are allowed (no links). Decompression stops with APP_BUNDLE_TOO_LARGE as
 * soon as more than `maxDecompressedBytes` came out: a gzip bomb costs nothing but the limit.
 */
export async function readArchive(
  source: AsyncIterable<Uint8Array>,
  maxDecompressedBytes: number,
  visit: EntryVisitor,
): Promise<void> {
  let decompressed = 0;
  const limiter = new Transform({
    transform(chunk: Buffer, _encoding, done) {
      decompressed += chunk.length;
      if (decompressed > maxDecompressedBytes) {
        done(
          new BundleError(
            BundleErrorCode.TooLarge,
            `the bundle decompresses to more than ${maxDecompressedBytes} bytes`,
          ),
        );
      } else done(null, chunk);
    },
  });
  const extract = tar.extract();
  let stopped = false;
  const feeding = pipeline(Readable.from(source), createGunzip(), limiter, extract).catch((err: unknown) => {
    if (!stopped) throw err;
  });
  // Rejections surface through the entry loop; this keeps an early one from being unhandled.
  feeding.catch(() => undefined);
  try {
    for await (const entry of extract) {
      const header = entry.header;
      const path = header.name.replace(/^(\.\/)+/, '').replace(/\/$/, '');
      if (header.type === 'directory' || path === '' || path === '.') {
        entry.resume();
        continue;
      }
      checkSafePath(path, `archive entry ${JSON.stringify(header.name)}`);
      if (header.type !== 'file' && header.type !== 'contiguous-file')
        throw new BundleError(BundleErrorCode.UnsafePath, `archive entry ${path} is a ${header.type}, not a file`);
      const size = header.size ?? 0;
      if (size > maxDecompressedBytes)
        throw new BundleError(BundleErrorCode.TooLarge, `archive entry ${path} is ${size} bytes`);
      // The header itself was just decompressed: the entry starts 512 bytes back.
      const offset = Math.max(0, decompressed - 512);
      const keepGoing = await visit({ path, size, offset, body: entry as AsyncIterable<Buffer> });
      if (keepGoing === false) {
        stopped = true;
        extract.destroy();
        break;
      }
      entry.resume();
    }
    await feeding;
  } catch (err) {
    stopped = true;
    extract.destroy();
    throw asBundleError(err);
  }
}

function asBundleError(err: unknown): Error {
  if (err instanceof BundleError) return err;
  const message = err instanceof Error ? err.message : String(err);
  const code = (err as { code?: string }).code ?? '';
  if (code.startsWith('Z_') || /tar|header|gzip|unexpected end/i.test(message))
    return new BundleError(BundleErrorCode.Malformed, `not a gzip tar bundle: ${message}`);
  return err instanceof Error ? err : new Error(message);
}

/** One file to pack. */
export interface PackEntry {
  path: string;
  data: Uint8Array;
}

/** A gzip tar of the entries, in order (bundles are built in memory: they are small by design). */
export async function packArchive(entries: readonly PackEntry[]): Promise<Buffer> {
  const pack = tar.pack();
  const parts: Buffer[] = [];
  const collecting = pipeline(pack, createGzip(), async (source: AsyncIterable<Buffer>) => {
    for await (const part of source) parts.push(part);
  });
  for (const entry of entries) {
    await new Promise<void>((resolve, reject) =>
      pack.entry({ name: entry.path, size: entry.data.length }, Buffer.from(entry.data), (err) =>
        err ? reject(err) : resolve(),
      ),
    );
  }
  pack.finalize();
  await collecting;
  return Buffer.concat(parts);
}
