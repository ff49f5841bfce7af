import { loadNodeConfig, type NodeConfig } from '@cnode/config';

export type StateDeltaConfig = Readonly<NodeConfig>;

/** The only place this service reads the environment. */
export function loadConfig(env: NodeJS.ProcessEnv): StateDeltaConfig {
  return loadNodeConfig('state-delta', env);
}
