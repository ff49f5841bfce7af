// Jest runs the TypeScript sources directly (swc, ESM). Workspace packages resolve to their src/ so
// tests never depend on a stale build; `tsc -b` type-checks separately.
const swc = ['@swc/jest', { jsc: { parser: { syntax: 'typescript' }, target: 'es2022' }, module: { type: 'es6' } }];

const shared = {
  testEnvironment: 'node',
  extensionsToTreatAsEsm: ['.ts'],
  setupFiles: ['<rootDir>/packages/testing/src/setup-polyfills.ts'],
  moduleNameMapper: {
    '^@cnode/runtime/polyfills$': '<rootDir>/packages/runtime/src/polyfills.ts',
    '^@cnode/(proto|primitives|runtime|config|bus|store|context-core|kv-app|wasm-runtime|app-bundle|service-kit|testing|cli|launcher)$':
      '<rootDir>/packages/$1/src/index.ts',
    '^(\\.{1,2}/.*)\\.js$': '$1',
  },
  transform: { '^.+\\.ts$': swc },
};

export default {
  // Integration tests wait on real brokers and processes; they poll for effects, never sleep blindly.
  testTimeout: 60_000,
  projects: [
    {
      ...shared,
      displayName: 'unit',
      testMatch: [
        '<rootDir>/packages/*/test/unit/**/*.test.ts',
        '<rootDir>/services/*/test/unit/**/*.test.ts',
        '<rootDir>/deploy/test/**/*.test.ts',
      ],
    },
    {
      ...shared,
      displayName: 'integration',
      testMatch: [
        '<rootDir>/packages/*/test/integration/**/*.test.ts',
        '<rootDir>/services/*/test/integration/**/*.test.ts',
        '<rootDir>/test/e2e/**/*.test.ts',
        '<rootDir>/test/hostile/**/*.test.ts',
        '<rootDir>/test/simulation/**/*.test.ts',
      ],
    },
    {
      // The chaos suite of seeded histories (npm run chaos): not part of npm test.
      ...shared,
      displayName: 'chaos',
      testMatch: ['<rootDir>/test/chaos/**/*.test.ts'],
    },
  ],
};
