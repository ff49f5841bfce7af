import './webassembly.js';
export * from './errors.js';
export * from './limits.js';
export * from './prepare.js';
export { HOST_IMPORTS, type EmittedEvent, type StorageOp } from './host-imports.js';
export * from './runtime.js';
export * from './scan.js';
