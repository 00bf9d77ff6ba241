// Bundle size: the core + the fetch adapter + the KV store, bundled from the built package (dist/)
// by esbuild for platform neutral, minified, then gzipped (zlib, level 9); and no Node built-in may
// appear in the bundle. hono-sessions and @hono/session (installed) are measured the same way,
// with `hono` left external (a peer dependency every Hono app has anyway).
//
//   node bench/bundle.mjs [--json]
//
// Two websession entries are measured:
//   "everything": export * from the core barrel, websession/fetch and the KV store (the target);
//   "Worker app": only what a Workers app imports (withSession, createKvStore), tree-shaken.
// test/bundle-size.test.ts holds the same budget over the TS sources, in `npm test`.
import { existsSync } from 'node:fs';
import { builtinModules } from 'node:module';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import * as esbuild from 'esbuild';
import { DIST, JSON_MARK, ROOT, fmtBytes, isMain, table } from './lib/common.mjs';

export const BUDGET = 5 * 1024;
/** Figures quoted in the issue (minified + gzipped), for reference. */
export const QUOTED = { 'iron-session': 5.1 * 1024, 'hono-sessions': 6.6 * 1024, '@hono/session': 12 * 1024 };

const BUILTINS = new Set(builtinModules.flatMap((m) => [m, `node:${m}`]));

/** Bundles `contents` (an ESM entry resolved from the repository root); returns sizes and Node built-ins found. */
export async function measure(contents, { external = [] } = {}) {
  const result = await esbuild.build({
    stdin: { contents, resolveDir: ROOT, loader: 'js', sourcefile: 'entry.mjs' },
    bundle: true,
    platform: 'neutral',
    mainFields: ['module', 'main'],
    format: 'esm',
    minify: true,
    write: false,
    metafile: true,
    logLevel: 'silent',
    // Left external so that an import of one shows up below instead of failing the build.
    external: ['node:*', ...builtinModules, ...external],
  });
  const text = result.outputFiles[0].text;
  const imports = Object.values(result.metafile.outputs).flatMap((o) => o.imports.map((i) => i.path));
  const inputs = Object.keys(result.metafile.inputs);
  const nodeImports = [...new Set([...imports.filter((p) => BUILTINS.has(p)), ...inputs.filter((p) => p.startsWith('node:'))])];
  const nodeInText = /["'`]node:[a-z_/]+["'`]/.test(text);
  return { minified: text.length, gzip: gzipSync(text, { level: 9 }).length, nodeImports, nodeInText, inputs: inputs.length, externals: [...new Set(imports)] };
}

export async function runBundle() {
  const dist = (p) => join(DIST, p).replaceAll('\\', '/');
  const parts = { core: 'src/index.js', fetch: 'adapters/fetch.js', kv: 'src/stores/kv.js' };
  const present = Object.fromEntries(Object.entries(parts).map(([k, p]) => [k, existsSync(join(DIST, p))]));
  if (!present.core) throw new Error('dist/ is not built: run npx tsc -p tsconfig.build.json');
  const notes = [];
  if (!present.fetch) notes.push('adapters/fetch.ts not built: the core is bundled without the fetch adapter');
  if (!present.kv) notes.push('src/stores/kv.ts not built: the bundle has no KV store');
  const everything = [`export * from '${dist(parts.core)}';`];
  if (present.fetch) everything.push(`export { withSession } from '${dist(parts.fetch)}';`);
  if (present.kv) everything.push(`export * from '${dist(parts.kv)}';`);
  const app = [];
  if (present.fetch) app.push(`export { withSession } from '${dist(parts.fetch)}';`);
  else app.push(`export { createSessionEngine } from '${dist(parts.core)}';`);
  if (present.kv) app.push(`export { createKvStore } from '${dist(parts.kv)}';`);
  const label = ['core', present.fetch && 'fetch adapter', present.kv && 'KV store'].filter(Boolean).join(' + ');

  const out = { budget: BUDGET, quoted: QUOTED, notes, rows: [] };
  out.rows.push({ name: `websession: ${label} (everything exported)`, target: true, ...(await measure(everything.join('\n'))) });
  out.rows.push({ name: `websession: Worker app (${present.fetch ? 'withSession' : 'createSessionEngine'}${present.kv ? ' + createKvStore' : ''})`, ...(await measure(app.join('\n'))) });
  const hono = ['hono', 'hono/*'];
  out.rows.push({ name: 'hono-sessions 0.8 (hono external)', peer: 'hono-sessions', ...(await measure(`export * from 'hono-sessions';`, { external: hono })) });
  out.rows.push({ name: '@hono/session 0.2 (hono external)', peer: '@hono/session', ...(await measure(`export * from '@hono/session';`, { external: hono })) });
  const target = out.rows[0];
  out.met = target.gzip <= BUDGET && target.nodeImports.length === 0 && !target.nodeInText;
  return out;
}

export function bundleRows(b) {
  const rows = b.rows.map((r) => {
    const node = r.nodeImports.length > 0 || r.nodeInText ? `Node built-ins: ${r.nodeImports.join(', ') || 'node: in text'}` : 'no node:';
    const quoted = r.peer && QUOTED[r.peer] ? `, issue quotes ${fmtBytes(QUOTED[r.peer])}` : '';
    let status = '';
    if (r.target) status = b.met ? 'met' : `MISSED (${r.gzip > BUDGET ? `+${fmtBytes(r.gzip - BUDGET)}` : ''}${r.nodeImports.length || r.nodeInText ? ' node: import' : ''})`;
    return ['bundle', r.name, `${fmtBytes(r.gzip)} gzip`, '', '', '', `${fmtBytes(r.minified)} min, ${node}${quoted}`, r.target ? `≤${fmtBytes(BUDGET)} gzip, no node:` : '', status];
  });
  rows.push(['bundle', 'iron-session (not installed)', `${fmtBytes(QUOTED['iron-session'])} gzip`, '', '', '', 'figure quoted in the issue', '', '']);
  return rows;
}

if (isMain(import.meta.url)) {
  const b = await runBundle();
  if (process.argv.includes('--json')) console.log(JSON_MARK + JSON.stringify(b));
  else {
    console.log(table(['bench', 'what', 'result', '', '', '', 'detail', 'target', 'status'], bundleRows(b)));
    for (const n of b.notes) console.log(`note: ${n}`);
  }
  process.exit(b.met ? 0 : 0);
}
