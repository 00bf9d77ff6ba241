/**
 * Tests that run inside workerd (the Cloudflare Workers runtime) through Miniflare, with
 * @cloudflare/vitest-pool-workers 0.15.1 (the last release on a miniflare that supports Node 20).
 * Run with `npm run test:workers`; the main vitest.config.ts excludes test/workers.
 *
 * Two Workers run:
 * - the test runner, where test/workers/**\/*.test.ts execute. It has the `SESSIONS` KV
 *   namespace (every suite here may use it, the KV store's tests too) and a `SESSION_SECRET`
 *   text binding. The pool always switches Node compatibility on for this Worker (vitest
 *   needs it), whatever the flags below say.
 * - `websession-app`: test/workers/app.ts bundled by esbuild into one ES module and run with
 *   NO `nodejs_compat` flag, reached from the tests through the `APP` service binding. If the
 *   core or an adapter needed `node:*`, `Buffer` or `process`, this Worker would fail to load
 *   or to answer, so it is what proves the code runs on plain workerd.
 */
import { cloudflareTest } from '@cloudflare/vitest-pool-workers';
import { buildSync } from 'esbuild';
import { defineConfig } from 'vitest/config';

const COMPATIBILITY_DATE = '2026-04-01';
const SESSION_SECRET = 'workerd-test-secret-0123456789abcdef0123';

/** test/workers/app.ts as one ES module for workerd: browser/worker conditions, no Node built-ins. */
function bundleApp(): string {
  const result = buildSync({
    entryPoints: ['test/workers/app.ts'],
    bundle: true,
    format: 'esm',
    platform: 'neutral',
    target: 'es2022',
    mainFields: ['module', 'main'],
    conditions: ['workerd', 'worker', 'browser'],
    write: false,
    logLevel: 'error',
  });
  return result.outputFiles[0]!.text;
}

export default defineConfig({
  plugins: [
    cloudflareTest({
      miniflare: {
        compatibilityDate: COMPATIBILITY_DATE,
        kvNamespaces: ['SESSIONS'],
        bindings: { SESSION_SECRET },
        serviceBindings: { APP: 'websession-app' },
        workers: [
          {
            name: 'websession-app',
            modules: [{ type: 'ESModule', path: 'app.mjs', contents: bundleApp() }],
            compatibilityDate: COMPATIBILITY_DATE,
            compatibilityFlags: [],
            kvNamespaces: { SESSIONS: 'websession-app-sessions' },
            bindings: { SESSION_SECRET },
          },
        ],
      },
    }),
  ],
  test: {
    include: ['test/workers/**/*.test.ts'],
    testTimeout: 20_000,
    hookTimeout: 30_000,
  },
});
