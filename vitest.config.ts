import { defineConfig } from 'vitest/config';

export default defineConfig({
  // Node resolves `graphql` to its CommonJS build (the package has no "exports"), the one the
  // Apollo packages load; Vite would pick the ESM build from "module", a second graphql realm.
  resolve: { alias: [{ find: /^graphql$/, replacement: 'graphql/index.js' }] },
  test: {
    include: ['test/**/*.test.ts'],
    globalSetup: ['test/setup/redis-cluster.ts'],
    testTimeout: 20_000,
    hookTimeout: 30_000,
    // Two cores: end-to-end files start real servers, so keep parallelism modest.
    maxWorkers: 2,
  },
});
