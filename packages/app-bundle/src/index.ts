export * from './archive.js';
export * from './build.js';
export * from './constants.js';
export * from './errors.js';
export * from './manifest.js';
export * from './signing.js';
export * from './verify.js';
export * from './versions.js';
