export * from './context-api.js';
