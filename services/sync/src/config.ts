import { loadNodeConfig, type NodeConfig } from '@cnode/config';

export type SyncConfig = Readonly<NodeConfig>;

/** The only place this service reads the environment. */
export function loadConfig(env: NodeJS.ProcessEnv): SyncConfig {
  return loadNodeConfig('sync', env);
}
