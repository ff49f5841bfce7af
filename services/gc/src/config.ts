import { loadNodeConfig, type NodeConfig } from '@cnode/config';

export type GcConfig = Readonly<NodeConfig>;

/** The only place this service reads the environment. */
export function loadConfig(env: NodeJS.ProcessEnv): GcConfig {
  return loadNodeConfig('gc', env);
}
