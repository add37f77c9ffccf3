import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    globalSetup: ['test/registry/global-setup.ts'],
    testTimeout: 60_000,
    restoreMocks: true,
  },
});
