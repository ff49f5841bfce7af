import '@cnode/runtime/polyfills';
import { runMain } from '@cnode/runtime';
import { loadConfig } from './config.js';
import { SERVICE_NAME, VERSION } from './constants.js';
import { createStateDeltaService } from './service.js';

await runMain({ service: SERVICE_NAME, version: VERSION, loadConfig, create: createStateDeltaService });
