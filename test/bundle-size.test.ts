/**
 * Bundle guard: what a Worker imports (the engine, the fetch adapter and the KV store), bundled
 * from the TS sources by esbuild (pinned dev dependency) for platform neutral, minified and
 * gzipped (zlib level 9), must not pull in any Node built-in, so it runs unchanged on Workers,
 * Deno and Bun, and must not grow past BUDGET. The target is 5 KB; the bundle is about
 * 13 KB today (bench/README.md says by how much and why), so this guards against regressions
 * rather than claiming the target. Deterministic: same sources and esbuild version, same bytes.
 */
import { existsSync } from 'node:fs';
import { builtinModules } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';
import * as esbuild from 'esbuild';
import { describe, expect, it } from 'vitest';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
/**
 * Regression guard (today's size plus a little room); the target of the performance issue is 5 KB.
 * Raised from 12 KB to 14 KB when the memory store began keeping hot records parsed and the engine
 * began loading and committing without an await (+1.1 KB gzip, for about 13 µs less CPU per
 * session read on Hono and 20 µs on Express over HTTP; bench/README.md).
 */
const BUDGET = 14 * 1024;
const BUILTINS = new Set(builtinModules.flatMap((m) => [m, `node:${m}`]));

const ENTRY = [
  `export { createSessionEngine } from './src/index.ts';`,
  existsSync(join(ROOT, 'adapters/fetch.ts')) ? `export { withSession } from './adapters/fetch.ts';` : '',
  existsSync(join(ROOT, 'src/stores/kv.ts')) ? `export * from './src/stores/kv.ts';` : '',
].join('\n');

let built: ReturnType<typeof build> | undefined;
const bundle = (): ReturnType<typeof build> => (built ??= build());

async function build() {
  const result = await esbuild.build({
    stdin: { contents: ENTRY, resolveDir: ROOT, loader: 'ts', sourcefile: 'entry.ts' },
    bundle: true,
    platform: 'neutral',
    mainFields: ['module', 'main'],
    format: 'esm',
    minify: true,
    write: false,
    metafile: true,
    logLevel: 'silent',
    // External so that a Node built-in shows up in the metafile instead of failing the build.
    external: ['node:*', ...builtinModules],
  });
  const text = result.outputFiles[0]!.text;
  const output = Object.values(result.metafile.outputs)[0]!;
  const perFile = Object.entries(output.inputs)
    .map(([file, { bytesInOutput }]) => ({ file, bytesInOutput }))
    .sort((a, b) => b.bytesInOutput - a.bytesInOutput);
  return { text, gzip: gzipSync(text, { level: 9 }).length, imports: output.imports.map((i) => i.path), inputs: Object.keys(result.metafile.inputs), perFile };
}

describe('bundle budget (core + fetch adapter + KV store, esbuild neutral, minified, gzip)', () => {
  it('imports no Node built-in', async () => {
    const { text, imports, inputs } = await bundle();
    expect(imports.filter((p) => BUILTINS.has(p) || p.startsWith('node:'))).toEqual([]);
    expect(inputs.filter((p) => p.startsWith('node:'))).toEqual([]);
    expect(text).not.toMatch(/["'`]node:[a-z_/]+["'`]/);
  });

  it(`is at most ${BUDGET} bytes gzipped`, async () => {
    const { gzip, text, perFile } = await bundle();
    const breakdown = perFile.map((f) => `  ${String(f.bytesInOutput).padStart(6)} B minified  ${f.file}`).join('\n');
    expect(gzip, `bundle is ${gzip} B gzipped (${text.length} B minified), budget ${BUDGET} B; by input:\n${breakdown}`).toBeLessThanOrEqual(BUDGET);
  });
});
