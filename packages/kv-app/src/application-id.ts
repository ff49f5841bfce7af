import { sha256 } from '@cnode/primitives';

/** The name the built-in kv application is selected by. */
export const KV_APPLICATION_NAME = 'kv';
/** The application id contexts running the built-in kv application record. */
export const KV_APPLICATION_ID: Buffer = sha256(Buffer.from('cnode/builtin-application/kv'));
