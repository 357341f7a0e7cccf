// Type-checked ESLint for the whole workspace.
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

/**
 * Workflow code is replayed deterministically inside Temporal's sandbox: it may import only
 * types from activities and nothing that performs I/O. Exported so a test can prove the guard.
 */
export const workflowImportRestrictions = {
  'no-restricted-imports': [
    'error',
    {
      patterns: [
        {
          group: ['node:*'],
          message: 'workflows must not import Node built-ins: do I/O in an activity.',
        },
        {
          group: [
            '@aws-sdk/*',
            '@tensorflow/*',
            'apache-arrow',
            'apache-arrow/*',
            '@seqtrain/storage',
            '@seqtrain/dataset',
            '@seqtrain/model',
            '@seqtrain/backend',
            '@seqtrain/registry',
            '@seqtrain/local-stack',
            'vitest',
          ],
          message: 'workflows must not import I/O or compute libraries: call an activity instead.',
        },
        {
          regex:
            '^(fs|path|os|child_process|net|http|https|crypto|stream|zlib|worker_threads|dgram|dns|tls|url|util)(/.*)?$',
          message: 'workflows must not import Node built-ins: do I/O in an activity.',
        },
      ],
    },
  ],
};

/** Refuses `names` in library code (see below). */
export function libraryImportRestrictions(names) {
  return {
    'no-restricted-imports': [
      'error',
      {
        patterns: [
          {
            group: names,
            message: 'library code must not import test tooling: move it to the package test/ folder.',
          },
        ],
      },
    ],
  };
}

export default tseslint.config(
  {
    ignores: [
      '**/node_modules/**',
      '**/.tsbuild/**',
      '**/dist/**',
      'eslint.config.js',
      'vitest.config.ts',
      'packages/cli/bin/**',
      // bench/gpu/prepare.sh's bundle for the GPU host (ignored by git)
      'bench/gpu/.carry/**',
    ],
  },
  js.configs.recommended,
  ...tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: {
      // A package's tests (src/**/*.test.ts) belong to its test/ project: the project service
      // finds it through the references of the root tsconfig.json.
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
    },
    rules: {
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/consistent-type-imports': 'error',
      '@typescript-eslint/switch-exhaustiveness-check': 'error',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      'no-restricted-syntax': [
        'error',
        { selector: 'ExportDefaultDeclaration', message: 'no default exports' },
      ],
    },
  },
  { files: ['workflows/**/*.ts'], ignores: ['workflows/**/*.test.ts'], rules: workflowImportRestrictions },
  {
    // Library code never depends on the test runner or the test stack: those belong to tests and
    // to each package's test/ folder. The CLI is an entry point: `seqtrain up` runs the stack.
    // (workflows/ has its own, stricter list above, which also refuses these: a second
    // no-restricted-imports entry for the same files would replace it, not add to it)
    files: ['packages/*/src/**/*.ts', 'activities/src/**/*.ts'],
    ignores: ['**/*.test.ts', 'packages/cli/src/**'],
    rules: libraryImportRestrictions(['vitest', '@seqtrain/local-stack', '@seqtrain/local-stack/*']),
  },
  {
    files: ['packages/cli/src/**/*.ts'],
    ignores: ['**/*.test.ts'],
    rules: libraryImportRestrictions(['vitest']),
  },
);
