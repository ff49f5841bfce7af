import { readFileSync } from 'node:fs';
import {
  credentials,
  Metadata,
  type CallOptions,
  type ClientReadableStream,
  type ServiceError,
} from '@grpc/grpc-js';
import { admin } from '@cnode/proto';

type Callback<Res> = (err: ServiceError | null, res: Res) => void;
type Invoke<Req, Res> = (req: Req, metadata: Metadata, options: Partial<CallOptions>, cb: Callback<Res>) => unknown;

/** Where the admin API is and how to authenticate to it. */
export interface AdminTarget {
  address: string;
  token: string;
  tls?: boolean;
  caFile?: string;
}

/**
 * ContextService as promises: every call carries the admin token and a deadline. Failures reject
 * with the grpc-js ServiceError (its `code` is the gRPC status, `details` the node's message).
 */
export class ContextApi {
  readonly client: admin.ContextServiceClient;
  private readonly metadata = new Metadata();

  constructor(
    target: AdminTarget,
    private readonly timeoutMs = 10_000,
  ) {
    const channel = target.tls
      ? credentials.createSsl(target.caFile ? readFileSync(target.caFile) : null)
      : credentials.createInsecure();
    this.client = new admin.ContextServiceClient(target.address, channel);
    this.metadata.set('authorization', `Bearer ${target.token}`);
  }

  private call<Req, Res>(invoke: Invoke<Req, Res>, req: Req): Promise<Res> {
    return new Promise((resolve, reject) =>
      invoke.call(this.client, req, this.metadata, { deadline: Date.now() + this.timeoutMs }, (err, res) =>
        err ? reject(err) : resolve(res),
      ),
    );
  }

  createContext(req: Partial<admin.CreateContextRequest> = {}): Promise<admin.CreateContextResponse> {
    return this.call(this.client.createContext, admin.CreateContextRequest.fromPartial(req));
  }

  listContexts(): Promise<admin.ListContextsResponse> {
    return this.call(this.client.listContexts, {});
  }

  getContext(contextId: string): Promise<admin.ContextInfo> {
    return this.call(this.client.getContext, { contextId }).then((r) => r.context!);
  }

  leaveContext(contextId: string): Promise<admin.LeaveContextResponse> {
    return this.call(this.client.leaveContext, { contextId });
  }

  createIdentity(): Promise<admin.CreateIdentityResponse> {
    return this.call(this.client.createIdentity, {});
  }

  inviteMember(contextId: string, invitee: string): Promise<admin.InviteMemberResponse> {
    return this.call(this.client.inviteMember, { contextId, invitee });
  }

  joinContext(invitationText: string): Promise<admin.JoinContextResponse> {
    return this.call(this.client.joinContext, { invitation: Buffer.alloc(0), invitationText });
  }

  /** Runs a method with JSON arguments; resolves with the parsed JSON output and the delta, if any. */
  async execute(
    contextId: string,
    method: string,
    args: unknown = {},
    executor = '',
  ): Promise<{ output: unknown; deltaId: string; rootHash: string }> {
    const res = await this.call(this.client.execute, {
      contextId,
      method,
      args: Buffer.from(JSON.stringify(args)),
      executor,
    });
    return { output: JSON.parse(Buffer.from(res.output).toString('utf8')) as unknown, deltaId: res.deltaId, rootHash: res.rootHash };
  }

  /** A live event stream; cancel() it to stop. */
  subscribeEvents(contextId = '', fromSequence = 0n): ClientReadableStream<admin.SubscribeEventsResponse> {
    return this.client.subscribeEvents({ contextId, fromSequence }, this.metadata);
  }

  peersCount(contextId: string): Promise<number> {
    return this.call(this.client.getPeersCount, { contextId }).then((r) => r.count);
  }

  close(): void {
    this.client.close();
  }
}
