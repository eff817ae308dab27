import { defineConfig } from 'vitest/config';

export default defineConfig({
  // Node resolves `graphql` to its CommonJS build (the package has no "exports"), the one the
  // Apollo packages load; Vite would pick the ESM build from "module", a second graphql realm.
  resolve: { alias: [{ find: /^graphql$/, replacement: 'graphql/index.js' }] },
  test: {
    // No `include` and no `globalSetup` here: the root config's globalSetup runs on every run (even
    // one of unit tests only), and `include` arrays would be concatenated into each project's.
    testTimeout: 20_000,
    hookTimeout: 30_000,
    // Two cores: end-to-end files start real servers, so keep parallelism modest.
    maxWorkers: 2,
    projects: [
      {
        // `extends: true`: the alias and timeouts above.
        extends: true,
        test: {
          name: 'unit',
          // Pure code and local HTTP servers only: no Redis, no cluster.
          include: ['test/unit/**/*.test.ts'],
        },
      },
      {
        extends: true,
        test: {
          name: 'integration',
          include: ['test/contract/**/*.test.ts', 'test/e2e/**/*.test.ts', 'test/subgraph/**/*.test.ts', 'test/browser/**/*.test.ts'],
          // Runs only when a test of this project is queued (not for `vitest run test/unit`).
          globalSetup: ['test/setup/redis-cluster.ts'],
        },
      },
    ],
  },
});
