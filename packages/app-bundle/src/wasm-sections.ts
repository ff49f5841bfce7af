/** ULEB128 of a non-negative integer. */
function leb128(n: number): Buffer {
  const out: number[] = [];
  do {
    let byte = n & 0x7f;
    n = Math.floor(n / 128);
    if (n !== 0) byte |= 0x80;
    out.push(byte);
  } while (n !== 0);
  return Buffer.from(out);
}

/** A WebAssembly module's bytes with a custom section (`name`, `payload`) appended. */
export function withCustomSection(bytes: Uint8Array, name: string, payload: Uint8Array): Buffer {
  const nameBytes = Buffer.from(name);
  const body = Buffer.concat([leb128(nameBytes.length), nameBytes, payload]);
  return Buffer.concat([bytes, Buffer.from([0x00]), leb128(body.length), body]);
}

/** The custom section a Calimero application embeds its ABI manifest in. */
export const ABI_SECTION_NAME = 'calimero_abi_v1';

/** The ABI manifest of an application whose `views` are read-only methods (the only intent a node acts on). */
export function abiManifest(views: readonly string[]): { methods: { name: string; intent: 'read_only' }[] } {
  return { methods: views.map((name) => ({ name, intent: 'read_only' })) };
}
