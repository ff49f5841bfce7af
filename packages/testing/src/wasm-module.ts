/** ULEB128 of a small non-negative number. */
function leb(n: number): number[] {
  const out: number[] = [];
  do {
    let byte = n & 0x7f;
    n >>>= 7;
    if (n !== 0) byte |= 0x80;
    out.push(byte);
  } while (n !== 0);
  return out;
}

/** A WebAssembly module's bytes with a custom section appended. */
export function withCustomSection(bytes: Uint8Array, name: string, payload: Uint8Array): Buffer {
  const nameBytes = Buffer.from(name);
  const body = [...leb(nameBytes.length), ...nameBytes, ...payload];
  return Buffer.from([...bytes, 0x00, ...leb(body.length), ...body]);
}

/**
 * The smallest application module a node accepts at install: one exported page of memory and no
 * methods, plus a custom section holding `label`, so that modules with different labels are
 * different blobs (and applications).
 */
export function testModule(label: string): Buffer {
  const module = [
    ...[0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00],
    // memory section: one memory, no maximum, one page
    ...[0x05, 0x03, 0x01, 0x00, 0x01],
    // export section: "memory" → memory 0
    ...[0x07, 0x0a, 0x01, 0x06, ...Buffer.from('memory'), 0x02, 0x00],
  ];
  return withCustomSection(Uint8Array.from(module), 'cnode_test', Buffer.from(label));
}
