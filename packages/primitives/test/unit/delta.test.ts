import { randomBytes } from 'node:crypto';
import { describe, expect, it } from '@jest/globals';
import type { wire } from '@cnode/proto';
import {
  GENESIS_PARENTS,
  HlcClock,
  PrimitiveErrorCode,
  computeDeltaId,
  createDelta,
  generateIdentity,
  generateSymmetricKey,
  keyIdOf,
  openDelta,
  type Action,
} from '../../src/index.js';

const author = generateIdentity();
const groupKey = generateSymmetricKey();
const clock = new HlcClock(randomBytes(16));
const contextId = randomBytes(32);
const actions: Action[] = [
  { kind: 'set', key: Buffer.from('a'), value: Buffer.from('1'), at: clock.now() },
  { kind: 'remove', key: Buffer.from('b'), at: clock.now() },
];
const keys = (id: Buffer): Buffer | undefined => (id.equals(keyIdOf(groupKey)) ? groupKey : undefined);

function fresh(): wire.StateDelta {
  return createDelta({
    contextId,
    parents: GENESIS_PARENTS,
    actions,
    hlc: clock.now(),
    author,
    groupKey,
    rootHash: randomBytes(32),
  });
}

function flip(bytes: Buffer, at = 0): Buffer {
  const copy = Buffer.from(bytes);
  copy[at] = (copy[at] ?? 0) ^ 0x01;
  return copy;
}

function codeOf(delta: wire.StateDelta, keyLookup = keys): string {
  try {
    openDelta(delta, keyLookup);
  } catch (err) {
    return (err as { code: string }).code;
  }
  return 'opened';
}

describe('delta envelope', () => {
  it('opens what it sealed and recomputes the same id', () => {
    const delta = fresh();
    const opened = openDelta(delta, keys);
    expect(opened.deltaId).toEqual(computeDeltaId(GENESIS_PARENTS, actions));
    expect(opened.actions).toEqual(actions);
    expect(opened.author).toEqual(author.publicKey);
  });

  const tamperings: [string, (d: wire.StateDelta) => wire.StateDelta, PrimitiveErrorCode][] = [
    ['ciphertext', (d) => ({ ...d, ciphertext: flip(d.ciphertext, 3) }), PrimitiveErrorCode.DecryptFailed],
    ['nonce', (d) => ({ ...d, nonce: flip(d.nonce) }), PrimitiveErrorCode.DecryptFailed],
    ['delta id', (d) => ({ ...d, deltaId: flip(d.deltaId) }), PrimitiveErrorCode.SignatureInvalid],
    ['parents', (d) => ({ ...d, parentIds: [flip(d.parentIds[0]!)] }), PrimitiveErrorCode.IdMismatch],
    ['author', (d) => ({ ...d, author: generateIdentity().publicKey }), PrimitiveErrorCode.SignatureInvalid],
    ['signature', (d) => ({ ...d, signature: flip(d.signature, 10) }), PrimitiveErrorCode.SignatureInvalid],
    ['context id', (d) => ({ ...d, contextId: flip(d.contextId) }), PrimitiveErrorCode.SignatureInvalid],
    ['hlc', (d) => ({ ...d, hlc: { ...d.hlc!, counter: d.hlc!.counter + 1 } }), PrimitiveErrorCode.SignatureInvalid],
    [
      'governance position',
      (d) => ({ ...d, governancePosition: { dagHeads: [randomBytes(32)] } }),
      PrimitiveErrorCode.SignatureInvalid,
    ],
    ['key id', (d) => ({ ...d, keyId: flip(d.keyId) }), PrimitiveErrorCode.KeyUnknown],
  ];
  for (const [field, tamper, code] of tamperings) {
    it(`refuses a delta with a changed ${field}: ${code}`, () => {
      expect(codeOf(tamper(fresh()))).toBe(code);
    });
  }

  it('fails to open under a wrong key with the same key id lookup', () => {
    expect(codeOf(fresh(), () => generateSymmetricKey())).toBe(PrimitiveErrorCode.DecryptFailed);
  });

  it('refuses a delta stamped more than 5 s in the future', () => {
    const future = new HlcClock(randomBytes(16), () => Date.now() + 60_000).now();
    const delta = createDelta({
      contextId,
      parents: GENESIS_PARENTS,
      actions,
      hlc: future,
      author,
      groupKey,
      rootHash: randomBytes(32),
    });
    expect(codeOf(delta)).toBe(PrimitiveErrorCode.HlcDrift);
  });

  it('refuses structural nonsense before any crypto', () => {
    expect(codeOf({ ...fresh(), parentIds: [] })).toBe(PrimitiveErrorCode.DeltaMalformed);
    expect(codeOf({ ...fresh(), parentIds: [Buffer.alloc(31)] })).toBe(PrimitiveErrorCode.DeltaMalformed);
    expect(codeOf({ ...fresh(), nonce: Buffer.alloc(5) })).toBe(PrimitiveErrorCode.DeltaMalformed);
  });

  it('the id depends on parent order and on every action field, not on the HLC of the delta', () => {
    const p = [randomBytes(32), randomBytes(32)];
    expect(computeDeltaId(p, actions)).not.toEqual(computeDeltaId([p[1]!, p[0]!], actions));
    const changedValue: Action[] = [
      { ...(actions[0] as Extract<Action, { kind: 'set' }>), value: Buffer.from('2') },
      actions[1]!,
    ];
    expect(computeDeltaId(p, actions)).not.toEqual(computeDeltaId(p, changedValue));
  });
});
