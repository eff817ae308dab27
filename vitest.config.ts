import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    globalSetup: ['test/setup/redis-cluster.ts'],
    testTimeout: 20_000,
    hookTimeout: 30_000,
    // Two cores: end-to-end files start real servers, so keep parallelism modest.
    maxWorkers: 2,
  },
});
