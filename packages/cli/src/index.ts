export * from './admin-api.js';
