import { readFileSync } from 'node:fs';
import {
  credentials,
  Metadata,
  type CallOptions,
  type ClientOptions,
  type ClientReadableStream,
  type ClientWritableStream,
  type ServiceError,
} from '@grpc/grpc-js';
import { admin } from '@cnode/proto';

type Callback<Res> = (err: ServiceError | null, res: Res) => void;
type Invoke<Res> = (metadata: Metadata, options: Partial<CallOptions>, cb: Callback<Res>) => unknown;

/** Largest message an upload sends: one blob chunk. */
const UPLOAD_PIECE_BYTES = 1024 * 1024;
/** GetBlobBytes answers up to the node's BLOB_CACHE_ENTRY_MAX (64 MiB by default) in one message. */
const BLOB_CLIENT_OPTIONS: Partial<ClientOptions> = { 'grpc.max_receive_message_length': 256 * 1024 * 1024 };

/** Where the admin API is and how to authenticate to it. */
export interface AdminTarget {
  address: string;
  token: string;
  tls?: boolean;
  caFile?: string;
}

/**
 * The admin API (NodeService, ContextService, GroupService) as promises: every call carries the admin token and
 * a deadline. Failures reject with the grpc-js ServiceError (`code` is the gRPC status, `details`
 * the node's message).
 */
/** One call's answer in an ExecuteBatch. */
export type BatchCallResult =
  | { ok: true; output: unknown; deltaId: string; rootHash: string }
  | { ok: false; status: number; code: string; message: string };

export class AdminApi {
  readonly client: admin.ContextServiceClient;
  readonly groups: admin.GroupServiceClient;
  readonly blobs: admin.BlobServiceClient;
  readonly aliases: admin.AliasServiceClient;
  readonly apps: admin.ApplicationServiceClient;
  readonly gc: admin.GcServiceClient;
  readonly clientTokens: admin.ClientTokenServiceClient;
  private readonly node: admin.NodeServiceClient;
  private readonly metadata = new Metadata();

  constructor(
    target: AdminTarget,
    private readonly timeoutMs = 10_000,
  ) {
    const channel = target.tls
      ? credentials.createSsl(target.caFile ? readFileSync(target.caFile) : null)
      : credentials.createInsecure();
    this.client = new admin.ContextServiceClient(target.address, channel);
    this.node = new admin.NodeServiceClient(target.address, channel);
    this.groups = new admin.GroupServiceClient(target.address, channel);
    this.blobs = new admin.BlobServiceClient(target.address, channel, BLOB_CLIENT_OPTIONS);
    this.aliases = new admin.AliasServiceClient(target.address, channel);
    this.apps = new admin.ApplicationServiceClient(target.address, channel);
    this.gc = new admin.GcServiceClient(target.address, channel);
    this.clientTokens = new admin.ClientTokenServiceClient(target.address, channel);
    this.metadata.set('authorization', `Bearer ${target.token}`);
  }

  private call<Res>(invoke: Invoke<Res>): Promise<Res> {
    return new Promise((resolve, reject) =>
      invoke(this.metadata, { deadline: Date.now() + this.timeoutMs }, (err, res) =>
        err ? reject(err) : resolve(res),
      ),
    );
  }

  info(): Promise<admin.GetInfoResponse> {
    return this.call<admin.GetInfoResponse>((md, o, cb) => this.node.getInfo({}, md, o, cb));
  }

  createContext(req: Partial<admin.CreateContextRequest> = {}): Promise<admin.CreateContextResponse> {
    return this.call((md, o, cb) => this.client.createContext(admin.CreateContextRequest.fromPartial(req), md, o, cb));
  }

  listContexts(): Promise<admin.ListContextsResponse> {
    return this.call((md, o, cb) => this.client.listContexts({}, md, o, cb));
  }

  getContext(contextId: string): Promise<admin.ContextInfo> {
    return this.call<admin.GetContextResponse>((md, o, cb) => this.client.getContext({ contextId }, md, o, cb)).then(
      (r) => r.context!,
    );
  }

  leaveContext(contextId: string): Promise<admin.LeaveContextResponse> {
    return this.call((md, o, cb) => this.client.leaveContext({ contextId }, md, o, cb));
  }

  createIdentity(): Promise<admin.CreateIdentityResponse> {
    return this.call((md, o, cb) => this.client.createIdentity({}, md, o, cb));
  }

  inviteMember(contextId: string, invitee: string, keyFromPeers = false): Promise<admin.InviteMemberResponse> {
    return this.call((md, o, cb) => this.client.inviteMember({ contextId, invitee, keyFromPeers }, md, o, cb));
  }

  /** Looks for a read-only node to admit to the context (specialized-node invite). */
  inviteSpecializedNode(contextId: string): Promise<admin.InviteSpecializedNodeResponse> {
    return this.call((md, o, cb) => this.client.inviteSpecializedNode({ contextId }, md, o, cb));
  }

  listSpecializedInvites(): Promise<admin.SpecializedInvite[]> {
    return this.call<admin.ListSpecializedInvitesResponse>((md, o, cb) =>
      this.client.listSpecializedInvites({}, md, o, cb),
    ).then((r) => r.invites);
  }

  joinContext(invitationText: string): Promise<admin.JoinContextResponse> {
    return this.call((md, o, cb) =>
      this.client.joinContext({ invitation: Buffer.alloc(0), invitationText }, md, o, cb),
    );
  }

  /**
   * Runs a method with JSON arguments; resolves with the parsed JSON output, the delta (if any) and
   * the lines the application logged.
   */
  async execute(
    contextId: string,
    method: string,
    args: unknown = {},
    executor = '',
  ): Promise<{ output: unknown; deltaId: string; rootHash: string; logs: string[] }> {
    const req = { contextId, method, args: Buffer.from(JSON.stringify(args)), executor };
    const res = await this.call<admin.ExecuteResponse>((md, o, cb) => this.client.execute(req, md, o, cb));
    return {
      output: JSON.parse(Buffer.from(res.output).toString('utf8')) as unknown,
      deltaId: res.deltaId,
      rootHash: res.rootHash,
      logs: res.logs,
    };
  }

  /**
   * Runs calls on one context in order (ExecuteBatch); resolves with one result per call: its parsed
   * output and delta, or its error.
   */
  async executeBatch(
    contextId: string,
    calls: readonly { method: string; args?: unknown; executor?: string }[],
  ): Promise<BatchCallResult[]> {
    const req: admin.ExecuteBatchRequest = {
      contextId,
      calls: calls.map((c) => ({
        method: c.method,
        args: Buffer.from(JSON.stringify(c.args ?? {})),
        executor: c.executor ?? '',
      })),
    };
    const res = await this.call<admin.ExecuteBatchResponse>((md, o, cb) => this.client.executeBatch(req, md, o, cb));
    return res.results.map((r): BatchCallResult => {
      const outcome = r.outcome;
      if (outcome?.$case === 'ok') {
        return {
          ok: true,
          output: JSON.parse(Buffer.from(outcome.ok.output).toString('utf8')) as unknown,
          deltaId: outcome.ok.deltaId,
          rootHash: outcome.ok.rootHash,
        };
      }
      const error = outcome?.$case === 'error' ? outcome.error : { status: 13, code: '', message: 'no outcome' };
      return { ok: false, status: error.status, code: error.code, message: error.message };
    });
  }

  /** A live event stream; cancel() it to stop. */
  subscribeEvents(contextId = '', fromSequence = 0n): ClientReadableStream<admin.SubscribeEventsResponse> {
    return this.client.subscribeEvents({ contextId, fromSequence }, this.metadata);
  }

  peersCount(contextId: string): Promise<number> {
    return this.call<admin.GetPeersCountResponse>((md, o, cb) =>
      this.client.getPeersCount({ contextId }, md, o, cb),
    ).then((r) => r.count);
  }

  /** Asks the node to sync the context now (optionally with one peer). */
  triggerSync(contextId: string, peer = ''): Promise<void> {
    return this.call<admin.TriggerSyncResponse>((md, o, cb) =>
      this.client.triggerSync({ contextId, peer }, md, o, cb),
    ).then(() => undefined);
  }

  /** Moves a context to another application version (see ContextService.UpdateContextApplication). */
  updateContextApplication(
    contextId: string,
    application: string,
    opts: { migrateMethod?: string; migrateArgs?: unknown; force?: boolean } = {},
  ): Promise<admin.UpdateContextApplicationResponse> {
    const req: admin.UpdateContextApplicationRequest = {
      contextId,
      application,
      migrateMethod: opts.migrateMethod ?? '',
      migrateArgs: opts.migrateArgs === undefined ? Buffer.alloc(0) : Buffer.from(JSON.stringify(opts.migrateArgs)),
      force: opts.force ?? false,
    };
    return this.call((md, o, cb) => this.client.updateContextApplication(req, md, o, cb));
  }

  syncStatus(contextId: string): Promise<admin.SyncStatus> {
    return this.call<admin.GetSyncStatusResponse>((md, o, cb) =>
      this.client.getSyncStatus({ contextId }, md, o, cb),
    ).then((r) => r.status!);
  }

  convergence(contextId: string): Promise<admin.GetContextConvergenceResponse> {
    return this.call((md, o, cb) => this.client.getContextConvergence({ contextId }, md, o, cb));
  }

  createGroup(): Promise<admin.CreateGroupResponse> {
    return this.call((md, o, cb) => this.groups.createGroup({}, md, o, cb));
  }

  listGroups(): Promise<admin.ListGroupsResponse> {
    return this.call((md, o, cb) => this.groups.listGroups({}, md, o, cb));
  }

  getGroup(groupId: string): Promise<admin.GetGroupResponse> {
    return this.call((md, o, cb) => this.groups.getGroup({ groupId }, md, o, cb));
  }

  listMembers(groupId: string): Promise<admin.ListMembersResponse> {
    return this.call((md, o, cb) => this.groups.listMembers({ groupId }, md, o, cb));
  }

  addMember(groupId: string, member: string, role = admin.MemberRole.MEMBER_ROLE_MEMBER, keyFromPeers = false) {
    return this.call<admin.AddMemberResponse>((md, o, cb) =>
      this.groups.addMember({ groupId, member, role, keyFromPeers }, md, o, cb),
    );
  }

  removeMember(groupId: string, member: string): Promise<admin.RemoveMemberResponse> {
    return this.call((md, o, cb) => this.groups.removeMember({ groupId, member }, md, o, cb));
  }

  setMemberRole(groupId: string, member: string, role: admin.MemberRole): Promise<admin.SetMemberRoleResponse> {
    return this.call((md, o, cb) => this.groups.setMemberRole({ groupId, member, role }, md, o, cb));
  }

  rotateKey(groupId: string): Promise<admin.RotateKeyResponse> {
    return this.call((md, o, cb) => this.groups.rotateKey({ groupId }, md, o, cb));
  }

  unregisterContext(groupId: string, contextId: string): Promise<admin.UnregisterContextResponse> {
    return this.call((md, o, cb) => this.groups.unregisterContext({ groupId, contextId }, md, o, cb));
  }

  listOps(groupId: string, limit = 0): Promise<admin.ListOpsResponse> {
    return this.call((md, o, cb) => this.groups.listOps({ groupId, limit }, md, o, cb));
  }

  /**
   * Streams a blob in: the header, then each piece (at most 1 MiB each; larger ones are split),
   * waiting for the channel to drain whenever it is full.
   */
  addBlob(
    pieces: AsyncIterable<Uint8Array>,
    header: Partial<admin.AddBlobHeader> = {},
  ): Promise<admin.AddBlobResponse> {
    return this.uploadStream<admin.AddBlobRequest, admin.AddBlobResponse>(
      (md, cb) => this.blobs.addBlob(md, cb),
      { part: { $case: 'header', header: admin.AddBlobHeader.fromPartial(header) } },
      (data) => ({ part: { $case: 'data', data } }),
      pieces,
    );
  }

  /** Streams a blob out: its info first, then its bytes in order. */
  async *getBlob(
    blobId: string,
    opts: { contextId?: string; peers?: string[] } = {},
  ): AsyncGenerator<{ info: admin.BlobInfo } | { data: Uint8Array }> {
    const call = this.blobs.getBlob(
      { blobId, contextId: opts.contextId ?? '', peers: opts.peers ?? [] },
      this.metadata,
    );
    try {
      for await (const res of call as AsyncIterable<admin.GetBlobResponse>) {
        if (res.part?.$case === 'info') yield { info: res.part.info };
        else if (res.part?.$case === 'data') yield { data: res.part.data };
      }
    } finally {
      call.cancel();
    }
  }

  getBlobBytes(
    blobId: string,
    opts: { contextId?: string; peers?: string[] } = {},
  ): Promise<admin.GetBlobBytesResponse> {
    const req = { blobId, contextId: opts.contextId ?? '', peers: opts.peers ?? [] };
    return this.call((md, o, cb) => this.blobs.getBlobBytes(req, md, o, cb));
  }

  getBlobInfo(blobId: string): Promise<admin.BlobInfo> {
    return this.call<admin.GetBlobInfoResponse>((md, o, cb) => this.blobs.getBlobInfo({ blobId }, md, o, cb)).then(
      (r) => r.blob!,
    );
  }

  listBlobs(): Promise<admin.BlobInfo[]> {
    return this.call<admin.ListBlobsResponse>((md, o, cb) => this.blobs.listBlobs({}, md, o, cb)).then((r) => r.blobs);
  }

  deleteBlob(blobId: string, force = false): Promise<boolean> {
    return this.call<admin.DeleteBlobResponse>((md, o, cb) => this.blobs.deleteBlob({ blobId, force }, md, o, cb)).then(
      (r) => r.deleted,
    );
  }

  announceBlob(blobId: string, contextId: string): Promise<void> {
    return this.call<admin.AnnounceBlobResponse>((md, o, cb) =>
      this.blobs.announceBlob({ blobId, contextId }, md, o, cb),
    ).then(() => undefined);
  }

  findBlobProviders(blobId: string, contextId: string): Promise<string[]> {
    return this.call<admin.FindBlobProvidersResponse>((md, o, cb) =>
      this.blobs.findBlobProviders({ blobId, contextId }, md, o, cb),
    ).then((r) => r.peers);
  }

  createAlias(kind: admin.AliasKind, name: string, value: string, scope = ''): Promise<void> {
    return this.call<admin.CreateAliasResponse>((md, o, cb) =>
      this.aliases.createAlias({ kind, name, value, scope }, md, o, cb),
    ).then(() => undefined);
  }

  deleteAlias(kind: admin.AliasKind, name: string, scope = ''): Promise<boolean> {
    return this.call<admin.DeleteAliasResponse>((md, o, cb) =>
      this.aliases.deleteAlias({ kind, name, scope }, md, o, cb),
    ).then((r) => r.deleted);
  }

  lookupAlias(kind: admin.AliasKind, name: string, scope = ''): Promise<string> {
    return this.call<admin.LookupAliasResponse>((md, o, cb) =>
      this.aliases.lookupAlias({ kind, name, scope }, md, o, cb),
    ).then((r) => r.value);
  }

  resolveAlias(kind: admin.AliasKind, aliasOrId: string, scope = ''): Promise<admin.ResolveAliasResponse> {
    return this.call((md, o, cb) => this.aliases.resolveAlias({ kind, aliasOrId, scope }, md, o, cb));
  }

  listAliases(kind: admin.AliasKind, scope = ''): Promise<admin.Alias[]> {
    return this.call<admin.ListAliasesResponse>((md, o, cb) =>
      this.aliases.listAliases({ kind, scope }, md, o, cb),
    ).then((r) => r.aliases);
  }

  /** Streams application bytes (a bundle or raw wasm) in and installs them. */
  installApplication(
    pieces: AsyncIterable<Uint8Array>,
    header: Partial<admin.InstallApplicationHeader> = {},
  ): Promise<admin.Application> {
    return this.uploadStream<admin.InstallApplicationRequest, admin.InstallApplicationResponse>(
      (md, cb) => this.apps.installApplication(md, cb),
      { part: { $case: 'header', header: admin.InstallApplicationHeader.fromPartial(header) } },
      (data) => ({ part: { $case: 'data', data } }),
      pieces,
    ).then((r) => r.application!);
  }

  installFromPath(
    path: string,
    opts: { allowUnsigned?: boolean; metadata?: Uint8Array } = {},
  ): Promise<admin.Application> {
    const req = { path, allowUnsigned: opts.allowUnsigned ?? false, metadata: Buffer.from(opts.metadata ?? []) };
    return this.call<admin.InstallFromPathResponse>((md, o, cb) => this.apps.installFromPath(req, md, o, cb)).then(
      (r) => r.application!,
    );
  }

  installFromUrl(
    url: string,
    opts: { allowUnsigned?: boolean; metadata?: Uint8Array; expectedHash?: string } = {},
  ): Promise<admin.Application> {
    const req = {
      url,
      allowUnsigned: opts.allowUnsigned ?? false,
      metadata: Buffer.from(opts.metadata ?? []),
      expectedHash: opts.expectedHash ?? '',
    };
    return this.call<admin.InstallFromUrlResponse>((md, o, cb) => this.apps.installFromUrl(req, md, o, cb)).then(
      (r) => r.application!,
    );
  }

  installFromBlob(
    blobId: string,
    opts: { contextId?: string; peers?: string[]; allowUnsigned?: boolean } = {},
  ): Promise<admin.Application> {
    const req = {
      blobId,
      contextId: opts.contextId ?? '',
      peers: opts.peers ?? [],
      allowUnsigned: opts.allowUnsigned ?? false,
    };
    return this.call<admin.InstallFromBlobResponse>((md, o, cb) => this.apps.installFromBlob(req, md, o, cb)).then(
      (r) => r.application!,
    );
  }

  uninstallApplication(applicationId: string): Promise<boolean> {
    return this.call<admin.UninstallApplicationResponse>((md, o, cb) =>
      this.apps.uninstallApplication({ applicationId }, md, o, cb),
    ).then((r) => r.uninstalled);
  }

  getApplication(applicationId: string): Promise<admin.Application> {
    return this.call<admin.GetApplicationResponse>((md, o, cb) =>
      this.apps.getApplication({ applicationId }, md, o, cb),
    ).then((r) => r.application!);
  }

  listApplications(): Promise<admin.Application[]> {
    return this.call<admin.ListApplicationsResponse>((md, o, cb) => this.apps.listApplications({}, md, o, cb)).then(
      (r) => r.applications,
    );
  }

  listPackages(): Promise<admin.PackageVersions[]> {
    return this.call<admin.ListPackagesResponse>((md, o, cb) => this.apps.listPackages({}, md, o, cb)).then(
      (r) => r.packages,
    );
  }

  /** A client-streaming call: the first message, then each piece split to ≤ 1 MiB, with backpressure. */
  private uploadStream<Req, Res>(
    open: (md: Metadata, cb: Callback<Res>) => ClientWritableStream<Req>,
    first: Req,
    wrap: (data: Buffer) => Req,
    pieces: AsyncIterable<Uint8Array>,
  ): Promise<Res> {
    return new Promise<Res>((resolve, reject) => {
      const call = open(this.metadata, (err, res) => (err ? reject(err) : resolve(res)));
      const send = async (): Promise<void> => {
        const write = async (message: Req) => {
          if (!call.write(message)) await new Promise<void>((r) => call.once('drain', () => r()));
        };
        await write(first);
        for await (const piece of pieces) {
          for (let off = 0; off < piece.length; off += UPLOAD_PIECE_BYTES)
            await write(wrap(Buffer.from(piece.subarray(off, off + UPLOAD_PIECE_BYTES))));
        }
        call.end();
      };
      send().catch((err: unknown) => {
        call.cancel();
        reject(err instanceof Error ? err : new Error(String(err)));
      });
    });
  }

  /** Runs GC tasks now on the leading gc replica (all when none named); their reports. */
  runGc(tasks: string[] = []): Promise<admin.GcReport[]> {
    return this.call<admin.RunGcResponse>((md, o, cb) => this.gc.runGc({ tasks }, md, o, cb)).then((r) => r.reports);
  }

  getGcStatus(limit = 0): Promise<admin.GetGcStatusResponse> {
    return this.call((md, o, cb) => this.gc.getGcStatus({ limit }, md, o, cb));
  }

  /** A client token grant for the app API: one context, one of our identities, a lifetime. */
  createClientToken(
    req: Partial<admin.CreateClientTokenRequest> & { contextId: string },
  ): Promise<admin.CreateClientTokenResponse> {
    return this.call((md, o, cb) =>
      this.clientTokens.createClientToken(admin.CreateClientTokenRequest.fromPartial(req), md, o, cb),
    );
  }

  revokeClientToken(grantId: string): Promise<boolean> {
    return this.call<admin.RevokeClientTokenResponse>((md, o, cb) =>
      this.clientTokens.revokeClientToken({ grantId }, md, o, cb),
    ).then((r) => r.revoked);
  }

  listClientTokens(contextId = ''): Promise<admin.ClientTokenGrant[]> {
    return this.call<admin.ListClientTokensResponse>((md, o, cb) =>
      this.clientTokens.listClientTokens({ contextId }, md, o, cb),
    ).then((r) => r.grants);
  }

  close(): void {
    this.clientTokens.close();
    this.client.close();
    this.groups.close();
    this.blobs.close();
    this.aliases.close();
    this.apps.close();
    this.gc.close();
    this.node.close();
  }
}
