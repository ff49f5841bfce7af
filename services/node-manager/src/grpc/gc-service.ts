import type { admin } from '@cnode/proto';
import type { ContextDeps } from '../contexts/context-deps.js';
import { getGcStatus, runGc } from './gc/gc-calls.js';
import { unary } from './unary.js';

/** GcService: each method's implementation lives under ./gc. */
export function gcService(deps: ContextDeps): admin.GcServiceServer {
  return {
    runGc: unary('RunGc', deps, (req: admin.RunGcRequest) => runGc(deps, req)),
    getGcStatus: unary('GetGcStatus', deps, (req: admin.GetGcStatusRequest) => getGcStatus(deps, req)),
  };
}
