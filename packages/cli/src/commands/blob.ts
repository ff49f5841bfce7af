import { createReadStream, createWriteStream } from 'node:fs';
import { Progress } from '../progress.js';
import { once } from 'node:events';
import type { admin } from '@cnode/proto';
import { withAdminApi } from '../client.js';
import { UsageError, type Endpoint } from '../endpoint.js';
import { need, printer } from './common.js';

export const BLOB_USAGE = `  blob add FILE [--context CTX]      store a file (- for stdin) as a blob; --context: announce it for CTX
  blob get BLOB [--out FILE] [--context CTX] [--peer PEER]...
                                     write a blob out (stdout by default); missing here, it is fetched
                                     from CTX's providers (the --peer ones first)
  blob info BLOB                     size, chunk count, SHA-256
  blob list                          the blobs stored here
  blob delete BLOB [--force]         delete (--force: even while an installed application uses it)
  blob announce BLOB CONTEXT         publish this node as a provider of the blob for the context
  blob providers BLOB CONTEXT        the peers the DHT names as providers
`;

export interface BlobCommandOptions {
  context: string;
  peers: string[];
  out?: string;
  force: boolean;
  json: boolean;
  timeoutMs: number;
  write: (text: string) => void;
  /** Where `blob get` writes when there is no --out, and `blob add -` reads from. */
  stdout: NodeJS.WritableStream;
  stdin: NodeJS.ReadableStream;
}

const formatBlob = (b: admin.BlobInfo): string =>
  `blob      ${b.blobId}\nsize      ${b.size}\nchunks    ${b.chunkCount}\nsha256    ${b.contentHash}\n`;

/** `cnode blob …`: the BlobService from the command line. Blobs stream; none is whole in memory. */
export async function runBlobCommand(endpoint: Endpoint, args: string[], opts: BlobCommandOptions): Promise<number> {
  const out = printer(opts.json, opts.write);
  const [sub, ...rest] = args;
  return withAdminApi(endpoint, opts.timeoutMs, async (api) => {
    switch (sub) {
      case 'add': {
        const [file] = need(rest, 1, 'blob add FILE');
        const source = file === '-' ? opts.stdin : createReadStream(file!);
        const progress = new Progress('uploading', file === '-' ? undefined : Progress.fileSize(file!));
        const res = await api.addBlob(progress.track(source as AsyncIterable<Buffer>), {
          announceContextId: opts.context,
        });
        out(res, `${formatBlob(res.blob!)}${res.created ? '' : '(already stored)\n'}`);
        return 0;
      }
      case 'get': {
        const [blobId] = need(rest, 1, 'blob get BLOB [--out FILE]');
        const sink = opts.out ? createWriteStream(opts.out) : opts.stdout;
        let progress: Progress | undefined;
        for await (const part of api.getBlob(blobId!, { contextId: opts.context, peers: opts.peers })) {
          if ('info' in part) progress = new Progress('downloading', Number(part.info.size));
          if ('data' in part) {
            progress?.add(part.data.length);
            if (!sink.write(part.data)) await once(sink, 'drain');
          }
        }
        progress?.finish();
        if (opts.out) {
          (sink as ReturnType<typeof createWriteStream>).end();
          await once(sink, 'finish');
        }
        return 0;
      }
      case 'info': {
        const [blobId] = need(rest, 1, 'blob info BLOB');
        const blob = await api.getBlobInfo(blobId!);
        out(blob, formatBlob(blob));
        return 0;
      }
      case 'list': {
        const blobs = await api.listBlobs();
        out(
          { blobs },
          blobs.length === 0 ? 'no blobs\n' : blobs.map((b) => `${b.blobId}  ${b.size}  ${b.contentHash}\n`).join(''),
        );
        return 0;
      }
      case 'delete': {
        const [blobId] = need(rest, 1, 'blob delete BLOB [--force]');
        const deleted = await api.deleteBlob(blobId!, opts.force);
        out({ deleted }, deleted ? 'deleted\n' : 'no such blob\n');
        return deleted ? 0 : 1;
      }
      case 'announce': {
        const [blobId, contextId] = need(rest, 2, 'blob announce BLOB CONTEXT');
        await api.announceBlob(blobId!, contextId!);
        out({}, 'announced\n');
        return 0;
      }
      case 'providers': {
        const [blobId, contextId] = need(rest, 2, 'blob providers BLOB CONTEXT');
        const peers = await api.findBlobProviders(blobId!, contextId!);
        out({ peers }, peers.length === 0 ? 'no providers\n' : peers.map((p) => `${p}\n`).join(''));
        return 0;
      }
      default:
        throw new UsageError(`usage:\n${BLOB_USAGE}`);
    }
  });
}
