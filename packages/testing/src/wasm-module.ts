import { withCustomSection } from '@cnode/app-bundle';

export { withCustomSection };

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
