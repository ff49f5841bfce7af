import type { NodeConfig } from '@cnode/config';
import { ConfigError } from '@cnode/runtime';

/**
 * The node master key, which seals private keys and group keys at rest. Services that hold keys
 * refuse to start without it, naming the knob.
 */
export function requireMasterKey(config: Readonly<NodeConfig>): Buffer {
  if (!config.node.masterKeyHex) {
    throw new ConfigError([
      { key: 'NODE_MASTER_KEY', message: `required by the ${config.service} service (64 hex characters)` },
    ]);
  }
  return Buffer.from(config.node.masterKeyHex, 'hex');
}
