import { toBase58 } from '@cnode/primitives';
import type { admin } from '@cnode/proto';
import { opSlot, GroupOpKind } from '@cnode/store';
import type { ContextDeps } from '../../contexts/context-deps.js';
import { requireGroup } from '../../groups/group-access.js';

const DEFAULT_OPS = 100;
const MAX_OPS = 1_000;

const KIND_NAMES: Record<GroupOpKind, string> = {
  [GroupOpKind.AddMember]: 'add_member',
  [GroupOpKind.RemoveMember]: 'remove_member',
  [GroupOpKind.SetRole]: 'set_role',
  [GroupOpKind.SetCapability]: 'set_capability',
  [GroupOpKind.RegisterContext]: 'register_context',
  [GroupOpKind.UnregisterContext]: 'unregister_context',
  [GroupOpKind.RotateKey]: 'rotate_key',
};

/** GroupService.ListOps: the ops log, oldest first. */
export async function listOps(deps: ContextDeps, req: admin.ListOpsRequest): Promise<admin.ListOpsResponse> {
  const groupId = await requireGroup(deps, req.groupId);
  const limit = Math.min(req.limit || DEFAULT_OPS, MAX_OPS);
  const records = await deps.groups.appliedOpRecords(groupId, limit);
  return {
    ops: records.map((r) => {
      const slot = opSlot(r.signed.op!);
      const keyLike = slot.kind === GroupOpKind.RotateKey;
      return {
        opId: r.opId.toString('hex'),
        parents: r.signed.parents.map((p) => Buffer.from(p).toString('hex')),
        signer: toBase58(r.signed.signer),
        nonce: r.signed.nonce,
        kind: KIND_NAMES[slot.kind],
        subject: keyLike ? slot.subject.toString('hex') : toBase58(slot.subject),
        role: slot.kind === GroupOpKind.AddMember || slot.kind === GroupOpKind.SetRole ? (slot.role ?? 0) : 0,
        generation: r.generation,
      };
    }),
  };
}
