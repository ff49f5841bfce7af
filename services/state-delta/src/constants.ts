import { packageVersion } from '@cnode/runtime';

export const SERVICE_NAME = 'state-delta';
export const VERSION = packageVersion(import.meta.url);
