import { wire } from '@cnode/proto';
import type { VerifiedGroupOp } from '@cnode/primitives';

/** An identity's standing at a cut: its role, null (not a member there), undefined (cut not known). */
export type MemberStanding = wire.GroupRole | null | undefined;

/** The GroupOp case numbers, as the `kind` column stores them. */
export enum GroupOpKind {
  AddMember = 1,
  RemoveMember = 2,
  SetRole = 3,
  SetCapability = 4,
  RegisterContext = 5,
  UnregisterContext = 6,
  RotateKey = 7,
}

const SLOT_MEMBER = 0x6d; // 'm'
const SLOT_CAPABILITY = 0x70; // 'p'
const SLOT_CONTEXT = 0x63; // 'c'
const SLOT_KEY = 0x6b; // 'k'

export interface OpSlot {
  slot: Buffer;
  kind: GroupOpKind;
  subject: Buffer;
  role?: number;
}

const slotOf = (tag: number, subject?: Uint8Array): Buffer =>
  Buffer.concat([Buffer.from([tag]), subject ? Buffer.from(subject) : Buffer.alloc(0)]);

/** What one op writes: its slot (last writer wins per slot), kind, subject and role. */
export function opSlot(op: wire.GroupOp): OpSlot {
  const kind = op.kind;
  switch (kind?.$case) {
    case 'addMember': {
      const m = Buffer.from(kind.addMember.member);
      return { slot: slotOf(SLOT_MEMBER, m), kind: GroupOpKind.AddMember, subject: m, role: kind.addMember.role };
    }
    case 'removeMember': {
      const m = Buffer.from(kind.removeMember.member);
      return { slot: slotOf(SLOT_MEMBER, m), kind: GroupOpKind.RemoveMember, subject: m };
    }
    case 'setRole': {
      const m = Buffer.from(kind.setRole.member);
      return { slot: slotOf(SLOT_MEMBER, m), kind: GroupOpKind.SetRole, subject: m, role: kind.setRole.role };
    }
    case 'setCapability': {
      const m = Buffer.from(kind.setCapability.member);
      return {
        slot: slotOf(SLOT_CAPABILITY, m),
        kind: GroupOpKind.SetCapability,
        subject: m,
        role: kind.setCapability.capabilities,
      };
    }
    case 'registerContext': {
      const c = Buffer.from(kind.registerContext.contextId);
      return { slot: slotOf(SLOT_CONTEXT, c), kind: GroupOpKind.RegisterContext, subject: c };
    }
    case 'unregisterContext': {
      const c = Buffer.from(kind.unregisterContext.contextId);
      return { slot: slotOf(SLOT_CONTEXT, c), kind: GroupOpKind.UnregisterContext, subject: c };
    }
    case 'rotateKey': {
      return { slot: slotOf(SLOT_KEY), kind: GroupOpKind.RotateKey, subject: Buffer.from(kind.rotateKey.keyId) };
    }
    default:
      throw new Error('a group op has no kind');
  }
}

/** Roles an AddMember or SetRole may grant without attestation. */
const VALID_ROLES = new Set([
  wire.GroupRole.GROUP_ROLE_MEMBER,
  wire.GroupRole.GROUP_ROLE_ADMIN,
  wire.GroupRole.GROUP_ROLE_READ_ONLY,
]);

/** Why an AddMember's role and attestation do not go together; undefined when they do. */
function addMemberRefusal(add: wire.AddMember): string | undefined {
  if (add.role === wire.GroupRole.GROUP_ROLE_READ_ONLY_TEE) {
    return add.tee && add.tee.quoteHash.length === 32 ? undefined : 'read_only_tee is granted only with an attestation';
  }
  if (add.tee) return 'an attestation belongs to a read_only_tee admission only';
  return VALID_ROLES.has(add.role) ? undefined : 'invalid role';
}

export const hexOf = (b: Uint8Array): string => Buffer.from(b).toString('hex');

/** The winning op of each slot in a cut's ancestry, as the projection query returns them. */
export interface SlotWinner {
  kind: GroupOpKind;
  subject: Buffer;
  role: number | null;
}

/**
 * A group as the ops of one cut make it. Built from the winner of each slot, so it is a pure
 * function of the cut: every node that knows the cut gets the same projection.
 */
export class CutProjection {
  private constructor(
    /** Members by hex public key, with their roles. */
    readonly members: ReadonlyMap<string, wire.GroupRole>,
    /** Registered contexts, hex ids. */
    readonly contexts: ReadonlySet<string>,
    /** Contexts whose registration an UnregisterContext ended, hex ids. */
    readonly unregistered: ReadonlySet<string>,
    /** The key the newest rotation named; undefined before any rotation. */
    readonly keyId: Buffer | undefined,
  ) {}

  static fold(winners: readonly SlotWinner[]): CutProjection {
    const members = new Map<string, wire.GroupRole>();
    const contexts = new Set<string>();
    const unregistered = new Set<string>();
    let keyId: Buffer | undefined;
    for (const w of winners) {
      switch (w.kind) {
        case GroupOpKind.AddMember:
        case GroupOpKind.SetRole:
          members.set(hexOf(w.subject), w.role ?? wire.GroupRole.GROUP_ROLE_MEMBER);
          break;
        case GroupOpKind.RegisterContext:
          contexts.add(hexOf(w.subject));
          break;
        case GroupOpKind.UnregisterContext:
          unregistered.add(hexOf(w.subject));
          break;
        case GroupOpKind.RotateKey:
          keyId = Buffer.from(w.subject);
          break;
        default:
          // A RemoveMember winning leaves the member slot empty; capabilities are not enforced yet.
          break;
      }
    }
    return new CutProjection(members, contexts, unregistered, keyId);
  }

  roleOf(member: Uint8Array): wire.GroupRole | undefined {
    return this.members.get(hexOf(member));
  }

  isMember(member: Uint8Array): boolean {
    return this.members.has(hexOf(member));
  }

  /** May write state deltas: a member or admin (read-only members may not). */
  canWrite(member: Uint8Array): boolean {
    const role = this.roleOf(member);
    return role === wire.GroupRole.GROUP_ROLE_MEMBER || role === wire.GroupRole.GROUP_ROLE_ADMIN;
  }

  private admins(): number {
    let n = 0;
    for (const role of this.members.values()) if (role === wire.GroupRole.GROUP_ROLE_ADMIN) n++;
    return n;
  }

  /**
   * Whether this cut (the op's parents) lets the op's signer issue it: only admins change the group;
   * removals and role changes need a member to act on and must leave an admin; an unregistration
   * needs a registered context. Why an op is refused, for logs; undefined when it is permitted.
   */
  refusal(op: VerifiedGroupOp): string | undefined {
    if (this.roleOf(op.signer) !== wire.GroupRole.GROUP_ROLE_ADMIN) return "signer is not an admin at the op's cut";
    const kind = op.op.kind;
    switch (kind?.$case) {
      case 'addMember':
        return addMemberRefusal(kind.addMember);
      case 'removeMember': {
        const target = this.roleOf(kind.removeMember.member);
        if (target === undefined) return "not a member at the op's cut";
        return target === wire.GroupRole.GROUP_ROLE_ADMIN && this.admins() <= 1
          ? 'would remove the last admin'
          : undefined;
      }
      case 'setRole': {
        if (kind.setRole.role === wire.GroupRole.GROUP_ROLE_READ_ONLY_TEE) {
          return 'read_only_tee is granted only through attested admission';
        }
        if (!VALID_ROLES.has(kind.setRole.role)) return 'invalid role';
        const target = this.roleOf(kind.setRole.member);
        if (target === undefined) return "not a member at the op's cut";
        const demotesLastAdmin =
          target === wire.GroupRole.GROUP_ROLE_ADMIN &&
          kind.setRole.role !== wire.GroupRole.GROUP_ROLE_ADMIN &&
          this.admins() <= 1;
        return demotesLastAdmin ? 'would demote the last admin' : undefined;
      }
      case 'setCapability':
        return this.isMember(kind.setCapability.member) ? undefined : "not a member at the op's cut";
      case 'unregisterContext':
        return this.contexts.has(hexOf(kind.unregisterContext.contextId)) ? undefined : 'context not registered';
      case 'registerContext':
      case 'rotateKey':
        return undefined;
      default:
        return 'op has no kind';
    }
  }

  permits(op: VerifiedGroupOp): boolean {
    return this.refusal(op) === undefined;
  }
}
