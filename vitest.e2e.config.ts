/**
 * End-to-end tests in a real browser (test/e2e): `npm run test:e2e`. They need Debian's
 * Chromium (/usr/bin/chromium, or CHROME_PATH) and are skipped without it; .ci/run installs it
 * and runs this suite as its own runtime. The default vitest.config.ts excludes test/e2e.
 */
import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/e2e/**/*.test.ts'],
    testTimeout: 90_000,
    hookTimeout: 60_000,
    // One browser story at a time: each file starts its own server and Chromium.
    fileParallelism: false,
  },
});
