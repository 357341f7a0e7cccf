import { defineConfig } from 'vitest/config';

// One runner for the whole workspace. Tests sit beside the code as *.test.ts; their helpers are
// in each package's test/ folder (its own TypeScript project, apart from the library's).
// Service-backed tests (Temporal dev server, local S3, native TensorFlow) are slow to start,
// so files run in forked processes with generous timeouts; there are no timing assertions.
export default defineConfig({
  test: {
    include: [
      '{packages,infra,activities,workflows,bench}/**/src/**/*.test.ts',
      'workflows/src/**/*.test.ts',
      'activities/src/**/*.test.ts',
      'test/**/*.test.ts',
    ],
    exclude: ['**/node_modules/**'],
    pool: 'forks',
    maxWorkers: 2,
    testTimeout: 120_000,
    hookTimeout: 180_000,
    reporters: ['default'],
  },
});
