/** What a refused admin call failed with: its gRPC status code and details. */
export interface Refusal {
  code: number;
  details: string;
}

/** The refusal of a call that must fail (a call that succeeds fails the test). */
export async function refusal(call: Promise<unknown>): Promise<Refusal> {
  const err = (await call.then(
    () => {
      throw new Error('the call was expected to be refused');
    },
    (e: unknown) => e,
  )) as Refusal;
  return { code: err.code, details: err.details };
}

/** Bytes as a one-piece upload (what the admin API's streaming uploads take). */
export function onePiece(bytes: Uint8Array): AsyncIterable<Uint8Array> {
  return (async function* () {
    yield bytes;
  })();
}
