import { packageVersion } from '@cnode/runtime';

export const SERVICE_NAME = 'gc';
export const VERSION = packageVersion(import.meta.url);
