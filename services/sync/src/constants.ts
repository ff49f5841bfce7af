import { packageVersion } from '@cnode/runtime';

export const SERVICE_NAME = 'sync';
export const VERSION = packageVersion(import.meta.url);
