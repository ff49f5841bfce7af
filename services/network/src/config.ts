import { loadNodeConfig, type NodeConfig } from '@cnode/config';

export type NetworkConfig = Readonly<NodeConfig>;

/** The only place this service reads the environment. */
export function loadConfig(env: NodeJS.ProcessEnv): NetworkConfig {
  return loadNodeConfig('network', env);
}
