import type { admin } from '@cnode/proto';
import type { ContextDeps } from '../contexts/context-deps.js';
import {
  getApplication,
  listApplications,
  listPackages,
  uninstallApplication,
} from './application/describe-applications.js';
import {
  installApplicationCall,
  installFromBlob,
  installFromPath,
  installFromUrl,
} from './application/install-calls.js';
import { clientStreaming, unary } from './unary.js';

/** ApplicationService: each method's implementation lives under ./application. */
export function applicationService(deps: ContextDeps): admin.ApplicationServiceServer {
  return {
    installApplication: clientStreaming('InstallApplication', deps, (call) => installApplicationCall(deps, call)),
    installFromPath: unary('InstallFromPath', deps, (req: admin.InstallFromPathRequest) => installFromPath(deps, req)),
    installFromUrl: unary('InstallFromUrl', deps, (req: admin.InstallFromUrlRequest) => installFromUrl(deps, req)),
    installFromBlob: unary('InstallFromBlob', deps, (req: admin.InstallFromBlobRequest) => installFromBlob(deps, req)),
    uninstallApplication: unary('UninstallApplication', deps, (req: admin.UninstallApplicationRequest) =>
      uninstallApplication(deps, req),
    ),
    getApplication: unary('GetApplication', deps, (req: admin.GetApplicationRequest) => getApplication(deps, req)),
    listApplications: unary('ListApplications', deps, () => listApplications(deps)),
    listPackages: unary('ListPackages', deps, () => listPackages(deps)),
  };
}
