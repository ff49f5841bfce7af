import { headers, type Msg, type NatsConnection } from '@nats-io/nats-core';
import { bus } from '@cnode/proto';
import { BusError, BusErrorCode } from './errors.js';

/** Header that marks a reply as an error; the body is then a CommandError. */
export const COMMAND_ERROR_HEADER = 'Cnode-Error-Code';

/** A protobuf message type as ts-proto generates it. */
export interface Codec<T> {
  encode(message: T): { finish(): Uint8Array };
  decode(input: Uint8Array): T;
}

/**
 * Sends a command over core NATS request/reply and decodes the answer. No responder or no answer in
 * time raise BusError(BUS_COMMAND_UNAVAILABLE).
 */
export async function request<Req, Res>(
  nc: NatsConnection,
  subject: string,
  reqCodec: Codec<Req>,
  resCodec: Codec<Res>,
  req: Req,
  timeoutMs: number,
): Promise<Res> {
  let reply;
  try {
    reply = await nc.request(subject, reqCodec.encode(req).finish(), { timeout: timeoutMs });
  } catch (err) {
    throw new BusError(
      BusErrorCode.CommandUnavailable,
      `no answer on ${subject}: ${(err as Error).message}`,
      {
        subject,
      },
      { cause: err },
    );
  }
  const errorCode = reply.headers?.get(COMMAND_ERROR_HEADER);
  if (errorCode) {
    let message = errorCode;
    try {
      message = bus.CommandError.decode(reply.data).message || errorCode;
    } catch {
      // Keep the header's code as the message.
    }
    throw new BusError(BusErrorCode.CommandFailed, message, { subject, code: errorCode });
  }
  try {
    return resCodec.decode(reply.data);
  } catch (err) {
    throw new BusError(BusErrorCode.Undecodable, `undecodable answer on ${subject}`, { subject }, { cause: err });
  }
}

/** Answers a request with an error the requester raises as BusError(BUS_COMMAND_FAILED). */
export function respondError(msg: Msg, code: string, message: string): void {
  const h = headers();
  h.set(COMMAND_ERROR_HEADER, code);
  msg.respond(bus.CommandError.encode({ code, message }).finish(), { headers: h });
}
