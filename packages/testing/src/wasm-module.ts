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

/**
 * The smallest application module a node accepts at install: one exported page of memory and no
 * methods, plus a custom section holding `label`, so that modules with different labels are
 * different blobs (and applications).
 */
export function testModule(label: string): Buffer {
  const name = Buffer.from('cnode_test');
  const payload = Buffer.from(label);
  const custom = [...leb(name.length), ...name, ...payload];
  return Buffer.from([
    ...[0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00],
    // memory section: one memory, no maximum, one page
    ...[0x05, 0x03, 0x01, 0x00, 0x01],
    // export section: "memory" → memory 0
    ...[0x07, 0x0a, 0x01, 0x06, ...Buffer.from('memory'), 0x02, 0x00],
    ...[0x00, ...leb(custom.length), ...custom],
  ]);
}
