import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // test/workers runs inside workerd (vitest.workers.config.ts), test/e2e in Chromium (vitest.e2e.config.ts).
    exclude: ['test/workers/**', 'test/e2e/**', 'node_modules/**'],
    testTimeout: 20_000,
    hookTimeout: 30_000,
  },
});
