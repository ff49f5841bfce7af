import { type admin, type bus } from '@cnode/proto';
import { SERVICE_NAMES } from '@cnode/config';
import { errorMessage, type Logger } from '@cnode/runtime';
import type { NetworkClient } from '@cnode/bus';

export interface GetInfoDeps {
  nodeName: string;
  nodeMode: string;
  version: string;
  network: NetworkClient;
  serviceStatuses: () => Promise<bus.ServiceStatus[]>;
  logger: Logger;
}

/**
 * NodeService.GetInfo: the node's name, peer id and listen addresses (from the network service) and
 * the readiness of each service (from their status reports). Answers even when some are down.
 */
export async function getInfo(deps: GetInfoDeps): Promise<admin.GetInfoResponse> {
  const [network, statuses] = await Promise.allSettled([deps.network.info(), deps.serviceStatuses()]);
  if (network.status === 'rejected') {
    deps.logger.debug({ err: errorMessage(network.reason) }, 'Network info unavailable');
  }
  const reports = statuses.status === 'fulfilled' ? statuses.value : [];
  const services: admin.ServiceReadiness[] = SERVICE_NAMES.map((service) => {
    const instances = reports.filter((s) => s.service === service);
    const readyInstances = instances.filter((s) => s.ready).length;
    return { service, instances: instances.length, readyInstances, ready: readyInstances > 0 };
  });
  return {
    nodeName: deps.nodeName,
    nodeMode: deps.nodeMode,
    peerId: network.status === 'fulfilled' ? network.value.peerId : '',
    listenAddrs: network.status === 'fulfilled' ? network.value.listenAddrs : [],
    connectedPeers: network.status === 'fulfilled' ? network.value.connectedPeers : 0,
    version: deps.version,
    services,
  };
}
