import { readFileSync } from 'node:fs';
import { credentials, Metadata, type CallOptions, type ClientReadableStream, type ServiceError } from '@grpc/grpc-js';
import { admin } from '@cnode/proto';

type Callback<Res> = (err: ServiceError | null, res: Res) => void;
type Invoke<Res> = (metadata: Metadata, options: Partial<CallOptions>, cb: Callback<Res>) => unknown;

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
export class AdminApi {
  readonly client: admin.ContextServiceClient;
  readonly groups: admin.GroupServiceClient;
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

  joinContext(invitationText: string): Promise<admin.JoinContextResponse> {
    return this.call((md, o, cb) =>
      this.client.joinContext({ invitation: Buffer.alloc(0), invitationText }, md, o, cb),
    );
  }

  /** Runs a method with JSON arguments; resolves with the parsed JSON output and the delta, if any. */
  async execute(
    contextId: string,
    method: string,
    args: unknown = {},
    executor = '',
  ): Promise<{ output: unknown; deltaId: string; rootHash: string }> {
    const req = { contextId, method, args: Buffer.from(JSON.stringify(args)), executor };
    const res = await this.call<admin.ExecuteResponse>((md, o, cb) => this.client.execute(req, md, o, cb));
    return {
      output: JSON.parse(Buffer.from(res.output).toString('utf8')) as unknown,
      deltaId: res.deltaId,
      rootHash: res.rootHash,
    };
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

  syncStatus(contextId: string): Promise<admin.SyncStatus> {
    return this.call<admin.GetSyncStatusResponse>((md, o, cb) =>
      this.client.getSyncStatus({ contextId }, md, o, cb),
    ).then((r) => r.status!);
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

  close(): void {
    this.client.close();
    this.groups.close();
    this.node.close();
  }
}
