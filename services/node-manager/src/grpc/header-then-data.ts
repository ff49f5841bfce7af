import { badArgument } from './admin-errors.js';

type UploadPart<H> = { $case: 'header'; header: H } | { $case: 'data'; data: Uint8Array } | undefined;

/**
 * Splits a client-streaming upload (AddBlob, InstallApplication) into its header (the first
 * message) and its data pieces, read lazily so the caller's store paces the stream.
 */
export async function headerThenData<H>(
  requests: AsyncIterable<{ part?: UploadPart<H> }>,
  method: string,
): Promise<{ header: H; data: AsyncGenerator<Uint8Array> }> {
  const messages = requests[Symbol.asyncIterator]();
  const first = await messages.next();
  const part = first.done ? undefined : first.value.part;
  if (part?.$case !== 'header') throw badArgument(`the first message of ${method} must be the header`);
  async function* data(): AsyncGenerator<Uint8Array> {
    for (let next = await messages.next(); !next.done; next = await messages.next()) {
      const piece = next.value.part;
      if (piece?.$case !== 'data') throw badArgument(`only data may follow the ${method} header`);
      yield piece.data;
    }
  }
  return { header: part.header, data: data() };
}
