import { fromBase58, toBase58 } from '@cnode/primitives';
import { isCodedError } from '@cnode/runtime';
import { KvError } from '@cnode/kv-app';
import { WasmError, WasmErrorCode } from '@cnode/wasm-runtime';
import { AdminErrorCode } from '../grpc/admin-errors.js';

/** A JSON-RPC request id: a string, a non-negative integer or null, echoed back as it came. */
export type RpcId = string | number | null;

/** An error in the upstream shape: `{type, data}` (a unit variant has no `data`). */
export interface RpcError {
  type: RpcErrorType;
  data?: unknown;
}

export enum RpcErrorType {
  /** The request is not JSON, not JSON-RPC 2.0, names an unknown method or has bad params. */
  ParseError = 'ParseError',
  /** The node refused the call (unknown context, not ready, not authorised, …): `data` says which. */
  CallError = 'CallError',
  /** The application failed (its error, a trap, a panic, a limit): `data` is the message. */
  FunctionCallError = 'FunctionCallError',
  /** The arguments or output are not what JSON can carry. */
  SerdeError = 'SerdeError',
  InternalError = 'InternalError',
}

/** The params of `execute`, checked. */
export interface ExecuteParams {
  contextId: Buffer;
  method: string;
  /** `argsJson` serialised: what the application receives. */
  args: Buffer;
  /** Absent when the request left it out (the token's identity then acts). */
  executorPublicKey: Buffer | undefined;
}

export type ParsedRequest = { ok: true; id: RpcId; params: ExecuteParams } | { ok: false; id: RpcId; error: RpcError };

/** Longest method name accepted (upstream's limit for WASM export names). */
export const MAX_METHOD_NAME = 255;

const parseError = (id: RpcId, data: string): ParsedRequest => ({
  ok: false,
  id,
  error: { type: RpcErrorType.ParseError, data },
});

function idOf(value: unknown): RpcId | undefined {
  if (value === null || value === undefined) return null;
  if (typeof value === 'string') return value;
  if (typeof value === 'number' && Number.isSafeInteger(value) && value >= 0) return value;
  return undefined;
}

function key32(value: unknown, field: string): Buffer | string {
  if (typeof value !== 'string') return `${field}: expected a base58 string`;
  try {
    const bytes = Buffer.from(fromBase58(value));
    if (bytes.length === 32) return bytes;
  } catch {
    // falls through
  }
  return `${field}: expected 32 bytes in base58`;
}

/**
 * Parses a JSON-RPC 2.0 body: `{jsonrpc: "2.0", id, method: "execute", params: {contextId, method,
 * argsJson, executorPublicKey?}}`. Unknown extra fields are ignored (clients add their own).
 */
export function parseRequest(body: string): ParsedRequest {
  let json: unknown;
  try {
    json = JSON.parse(body);
  } catch (err) {
    return parseError(null, `invalid JSON: ${(err as Error).message}`);
  }
  if (typeof json !== 'object' || json === null || Array.isArray(json)) {
    return parseError(null, 'expected a JSON-RPC request object (batches are not supported)');
  }
  const req = json as Record<string, unknown>;
  const id = idOf(req.id);
  if (id === undefined) return parseError(null, 'id: expected a string, a non-negative integer or null');
  if (req.jsonrpc !== '2.0') return parseError(id, 'jsonrpc: expected "2.0"');
  if (typeof req.method !== 'string') return parseError(id, 'method: expected a string');
  if (req.method !== 'execute') return parseError(id, `unknown variant \`${req.method}\`, expected \`execute\``);
  const params = req.params;
  if (typeof params !== 'object' || params === null || Array.isArray(params)) {
    return parseError(id, 'params: expected an object');
  }
  const p = params as Record<string, unknown>;
  const contextId = key32(p.contextId, 'params.contextId');
  if (typeof contextId === 'string') return parseError(id, contextId);
  if (typeof p.method !== 'string' || p.method.length === 0 || p.method.length > MAX_METHOD_NAME) {
    return parseError(id, `params.method: expected a method name of 1 to ${MAX_METHOD_NAME} characters`);
  }
  if (!('argsJson' in p)) return parseError(id, 'params.argsJson: missing field');
  let executorPublicKey: Buffer | undefined;
  if (p.executorPublicKey !== undefined && p.executorPublicKey !== null) {
    const key = key32(p.executorPublicKey, 'params.executorPublicKey');
    if (typeof key === 'string') return parseError(id, key);
    executorPublicKey = key;
  }
  return {
    ok: true,
    id,
    params: {
      contextId,
      method: p.method,
      args: Buffer.from(JSON.stringify(p.argsJson ?? {})),
      executorPublicKey,
    },
  };
}

/** The success body: the method's output parsed as JSON at `result.output` (null when it returned nothing). */
export function resultBody(id: RpcId, output: Uint8Array): string {
  let value: unknown = null;
  if (output.length > 0) value = JSON.parse(Buffer.from(output).toString('utf8')) as unknown;
  return JSON.stringify({ jsonrpc: '2.0', id, result: { output: value } });
}

export function errorBody(id: RpcId, error: RpcError): string {
  return JSON.stringify({ jsonrpc: '2.0', id, error });
}

const callError = (type: string, data?: unknown): RpcError => ({
  type: RpcErrorType.CallError,
  data: data === undefined ? { type } : { type, data },
});

/**
 * What a failed execute answers, in the shapes upstream's client 1.1.0 reads: refusals of the node
 * as `CallError` with a nested `{type, data}`, the application's failures as `FunctionCallError`
 * with a message. Anything unexpected is an `InternalError` without detail (it is logged instead).
 */
export function executeError(err: unknown, params: ExecuteParams, identity: Buffer): RpcError | undefined {
  const scope = { context_id: toBase58(params.contextId), public_key: toBase58(identity) };
  if (err instanceof KvError) return { type: RpcErrorType.FunctionCallError, data: `${err.code}: ${err.message}` };
  if (err instanceof WasmError) {
    if (err.code === WasmErrorCode.Busy || err.code === WasmErrorCode.Stopped) {
      return callError('InternalError', { kind: err.code, message: err.message });
    }
    const appError = err.code === WasmErrorCode.ExecutionError && err.data ? Buffer.from(err.data).toString() : '';
    return { type: RpcErrorType.FunctionCallError, data: appError || `${err.code}: ${err.message}` };
  }
  if (!isCodedError(err)) return undefined;
  switch (err.code as AdminErrorCode) {
    case AdminErrorCode.ContextUnknown:
      return callError('ContextNotFound');
    case AdminErrorCode.ContextNotReady:
      return callError('Uninitialized');
    case AdminErrorCode.IdentityUnknown:
    case AdminErrorCode.NotMember:
    case AdminErrorCode.NoGroupKey:
      return callError('Unauthorized', scope);
    case AdminErrorCode.ViewOnly:
    case AdminErrorCode.MemberReadOnly:
      return callError('Unauthorized', { ...scope, reason: err.message });
    case AdminErrorCode.NodeReadOnly:
      return callError('NodeReadOnly', { message: err.message });
    case AdminErrorCode.ApplicationUnknown:
      return callError('ApplicationNotInstalled', { message: err.message });
    case AdminErrorCode.BadArgument:
      // The application's method refused its arguments, or does not exist.
      return { type: RpcErrorType.FunctionCallError, data: err.message };
    case AdminErrorCode.WritesBusy:
      return callError('InternalError', { kind: err.code, message: err.message });
    default:
      if (err.code.startsWith('APP_')) return { type: RpcErrorType.FunctionCallError, data: err.message };
      return undefined;
  }
}
