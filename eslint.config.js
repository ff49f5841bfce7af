import js from '@eslint/js';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  {
    ignores: [
      '**/dist/**',
      '**/node_modules/**',
      'packages/proto/src/gen/**',
      '.cnode/**',
      'coverage/**',
      // AssemblyScript (compiled by asc, which type-checks it), and what it builds.
      '**/assembly/**',
      'apps/*/build/**',
      // Hand-written types of demo/serve.mjs (for the browser test).
      'demo/*.d.mts',
    ],
  },
  js.configs.recommended,
  ...tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: {
      parserOptions: {
        projectService: {
          allowDefaultProject: [
            '*.js',
            'packages/cli/bin/*.js',
            'scripts/*.mjs',
            'demo/*.mjs',
            'demo/*/*.js',
            'deploy/monitoring/*.mjs',
            'test/*/*.mjs',
          ],
          maximumDefaultProjectFileMatchCount_THIS_WILL_SLOW_DOWN_LINTING: 16,
        },
        tsconfigRootDir: import.meta.dirname,
      },
    },
    rules: {
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/no-misused-promises': 'error',
      '@typescript-eslint/no-explicit-any': 'error',
      // Startable and handler methods are async by contract even when an implementation needs no await.
      '@typescript-eslint/require-await': 'off',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      '@typescript-eslint/consistent-type-imports': ['error', { fixStyle: 'inline-type-imports' }],
    },
  },
  {
    files: ['**/*.js', '**/*.mjs'],
    ...tseslint.configs.disableTypeChecked,
    languageOptions: {
      globals: {
        process: 'readonly',
        console: 'readonly',
        fetch: 'readonly',
        AbortSignal: 'readonly',
        URL: 'readonly',
        setTimeout: 'readonly',
      },
    },
  },
  {
    // The demo page runs in a browser.
    files: ['demo/*/*.js'],
    languageOptions: {
      globals: {
        document: 'readonly',
        location: 'readonly',
        WebSocket: 'readonly',
        TextDecoder: 'readonly',
        URLSearchParams: 'readonly',
        crypto: 'readonly',
      },
    },
  },
);
