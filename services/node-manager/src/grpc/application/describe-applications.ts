import { status } from '@grpc/grpc-js';
import type { admin } from '@cnode/proto';
import { sortVersionsDescending } from '@cnode/app-bundle';
import type { ContextDeps } from '../../contexts/context-deps.js';
import { applicationView } from '../../apps/application-views.js';
import { AdminCallError, AdminErrorCode } from '../admin-errors.js';
import { resolveIdArg } from '../alias-args.js';

/** The installed application a request names (base58 id or alias), or NOT_FOUND. */
async function requireApplication(deps: ContextDeps, text: string) {
  const id = await resolveIdArg(deps.hot, 'application', text, 'application_id');
  const app = await deps.applications.get(id);
  if (!app)
    throw new AdminCallError(
      status.NOT_FOUND,
      AdminErrorCode.ApplicationUnknown,
      `application ${text} is not installed`,
    );
  return app;
}

export async function getApplication(
  deps: ContextDeps,
  req: admin.GetApplicationRequest,
): Promise<admin.GetApplicationResponse> {
  const app = await requireApplication(deps, req.applicationId);
  return { application: applicationView(app, await deps.aliases.namesOf('application', app.id)) };
}

export async function listApplications(deps: ContextDeps): Promise<admin.ListApplicationsResponse> {
  const apps = await deps.applications.list();
  return {
    applications: await Promise.all(
      apps.map(async (app) => applicationView(app, await deps.aliases.namesOf('application', app.id))),
    ),
  };
}

/** Upstream's list_packages / list_versions / get_latest_version in one answer. */
export async function listPackages(deps: ContextDeps): Promise<admin.ListPackagesResponse> {
  const packages = await deps.applications.packages();
  return {
    packages: packages.map((p) => {
      const versions = sortVersionsDescending(p.versions);
      return { package: p.package, versions, latest: versions[0] ?? '' };
    }),
  };
}

/** Deletes the row only (upstream's uninstall): the blobs stay until deleted, now unprotected. */
export async function uninstallApplication(
  deps: ContextDeps,
  req: admin.UninstallApplicationRequest,
): Promise<admin.UninstallApplicationResponse> {
  const app = await requireApplication(deps, req.applicationId);
  const uninstalled = await deps.applications.delete(app.id);
  deps.logger.info({ application: req.applicationId, package: app.package }, 'Uninstalled an application');
  return { uninstalled };
}
