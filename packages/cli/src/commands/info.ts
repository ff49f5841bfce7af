import type { admin } from '@cnode/proto';
import { authMetadata, explain, nodeClient } from '../client.js';
import type { Endpoint } from '../endpoint.js';

export async function fetchInfo(endpoint: Endpoint, timeoutMs: number): Promise<admin.GetInfoResponse> {
  const client = nodeClient(endpoint);
  try {
    return await new Promise((resolve, reject) =>
      client.getInfo({}, authMetadata(endpoint), { deadline: Date.now() + timeoutMs }, (err, res) =>
        err ? reject(explain(err, endpoint)) : resolve(res),
      ),
    );
  } finally {
    client.close();
  }
}

export function formatInfo(info: admin.GetInfoResponse): string {
  const lines = [
    `node      ${info.nodeName}`,
    `version   ${info.version}`,
    `mode      ${info.nodeMode || 'standard'}`,
    `peer id   ${info.peerId || '(network service not answering)'}`,
    ...info.listenAddrs.map((addr, i) => `${i === 0 ? 'listen   ' : '         '} ${addr}`),
    `peers     ${info.connectedPeers} connected`,
    'services',
    ...info.services.map((s) => {
      const state = s.instances === 0 ? 'not reporting' : s.ready ? 'ready' : 'not ready';
      return `  ${s.service.padEnd(13)} ${state.padEnd(14)} ${s.readyInstances}/${s.instances} instances ready`;
    }),
  ];
  return `${lines.join('\n')}\n`;
}
