export * from './gen/cnode/admin/v1/node.js';
