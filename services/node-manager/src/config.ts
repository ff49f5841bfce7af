import { loadNodeConfig, type NodeConfig } from '@cnode/config';

export type NodeManagerConfig = Readonly<NodeConfig>;

/** The only place this service reads the environment. */
export function loadConfig(env: NodeJS.ProcessEnv): NodeManagerConfig {
  return loadNodeConfig('node-manager', env);
}
