#!/usr/bin/env node
// npm package smoke test: what `npm publish` would upload, installed and used as a consumer
// would, outside this repository.
//
//   1. `npm pack` into a temp dir, and check the tarball holds every file package.json
//      `exports` points at (so dist/ must be built: `npm run build`);
//   2. a fresh project there (`npm init -y`, "type": "module") installs the tarball plus the
//      peers and drivers the checks use (same versions as this repo's node_modules, from the
//      npm cache when they are in it: --prefer-offline);
//   3. type-checks scripts/pack-smoke/consumer.ts against the installed package with this
//      repo's TypeScript (module/moduleResolution NodeNext, skipLibCheck false, no DOM lib);
//   4. runs scripts/pack-smoke/consumer.mjs there: every entry point does real work (request
//      and response round trips, an Express and a node:http server on 127.0.0.1:0, each store,
//      the store contract suite). REDIS_URL / DATABASE_URL make the Redis and SQL checks use
//      the real servers.
//
// Usage: node scripts/pack-smoke.mjs [--keep]   (npm run check:pack; --keep leaves the temp dir)
// Exit status 0 when everything passed, 1 otherwise. Plain Node 20 JavaScript.
import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const keep = process.argv.includes('--keep');
const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8'));
const t0 = performance.now();

/** Packages the consumer installs beside the tarball, at the versions this repo uses. */
const CONSUMER_DEPS = [
  'express',
  'hono',
  'express-session',
  'unstorage',
  'redis',
  'pg',
  '@types/node',
  '@types/express',
  '@types/express-session',
  '@types/pg',
];

const secs = (ms) => `${(ms / 1000).toFixed(1)} s`;
function fail(message) {
  console.error(`pack-smoke: FAILED: ${message}`);
  process.exit(1);
}

/** The environment for child npm commands, without the npm_* variables of a surrounding `npm run`
 * (they carry this repo's config and prefix into the consumer's npm). */
function cleanEnv() {
  const env = {};
  for (const [key, value] of Object.entries(process.env)) if (!/^npm_/i.test(key)) env[key] = value;
  return { ...env, npm_config_update_notifier: 'false', npm_config_fund: 'false', npm_config_audit: 'false' };
}

/** Runs a command, prints its phase and time; on failure prints its output and exits. */
function run(title, command, args, options) {
  const start = performance.now();
  const result = spawnSync(command, args, { encoding: 'utf8', env: cleanEnv(), maxBuffer: 64 << 20, ...options });
  const ms = performance.now() - start;
  if (result.error || result.status !== 0) {
    process.stdout.write(result.stdout ?? '');
    process.stderr.write(result.stderr ?? '');
    fail(`${title}: ${command} ${args.join(' ')} exited ${result.status ?? result.error}`);
  }
  console.log(`- ${title} (${secs(ms)})`);
  return result.stdout;
}

// ---- 0. the build must be there ------------------------------------------------------------
const targets = Object.entries(pkg.exports).flatMap(([key, value]) => (typeof value === 'string' ? [[key, value]] : Object.values(value).map((v) => [key, v])));
const entries = Object.keys(pkg.exports).filter((key) => key !== './package.json');
// Every entry point must have its check in consumer.mjs (a new export cannot be forgotten).
const checked = [...readFileSync(join(ROOT, 'scripts/pack-smoke/consumer.mjs'), 'utf8').matchAll(/^await check\('([^']+)'/gm)].map((m) => m[1]);
const unchecked = entries.map((key) => key.replace(/^\./, pkg.name)).filter((name) => !checked.includes(name));
if (unchecked.length) fail(`scripts/pack-smoke/consumer.mjs has no check for: ${unchecked.join(', ')}`);
const missing = targets.filter(([, file]) => !existsSync(join(ROOT, file)));
if (missing.length) fail(`not built: ${missing.map(([, f]) => f).join(', ')} (run \`npm run build\` first)`);

const work = mkdtempSync(join(tmpdir(), 'websession-pack-'));
let ok = false;
process.on('exit', () => {
  if (keep || !ok) console.log(`pack-smoke: temp dir kept: ${work}`);
  else rmSync(work, { recursive: true, force: true });
});

console.log(`pack-smoke: ${pkg.name}@${pkg.version} in ${work}`);

// ---- 1. npm pack ---------------------------------------------------------------------------
const packed = JSON.parse(run('npm pack', 'npm', ['pack', '--json', '--pack-destination', work], { cwd: ROOT }))[0];
const files = new Set(packed.files.map((f) => f.path));
const notPacked = targets.filter(([, file]) => !files.has(file.replace(/^\.\//, '')));
if (notPacked.length) fail(`the tarball lacks export targets: ${notPacked.map(([k, f]) => `${k} → ${f}`).join(', ')}`);
for (const required of ['package.json', 'README.md', 'LICENSE']) if (!files.has(required)) fail(`the tarball lacks ${required}`);
// The README's relative links (docs/, examples/) must be shipped: the installed package is all a reader has.
const links = [...readFileSync(join(ROOT, 'README.md'), 'utf8').matchAll(/\]\((?!https?:|#|mailto:)([^)#\s]+)/g)].map((m) => m[1].replace(/^\.\//, ''));
const unshipped = links.filter((link) => !files.has(link) && ![...files].some((f) => f.startsWith(`${link.replace(/\/$/, '')}/`)));
if (unshipped.length) fail(`README.md links to files the tarball lacks: ${unshipped.join(', ')}`);
const stray = [...files].filter((f) => /^(test|bench|demo|scripts|\.ci|node_modules)\//.test(f) || /\.test\.[jt]s$/.test(f));
if (stray.length) fail(`the tarball has files a consumer never needs: ${stray.slice(0, 10).join(', ')}`);
console.log(`  ${packed.filename}: ${packed.entryCount} files, ${(packed.size / 1024).toFixed(1)} KB packed, ${(packed.unpackedSize / 1024).toFixed(1)} KB unpacked; all ${targets.length} export targets and ${links.length} README links present`);

// ---- 2. a fresh consumer project -----------------------------------------------------------
const app = join(work, 'consumer');
mkdirSync(app);
run('npm init -y', 'npm', ['init', '-y'], { cwd: app });
const appPkg = JSON.parse(readFileSync(join(app, 'package.json'), 'utf8'));
writeFileSync(join(app, 'package.json'), `${JSON.stringify({ ...appPkg, type: 'module', private: true }, null, 2)}\n`);

const versionOf = (name) => JSON.parse(readFileSync(join(ROOT, 'node_modules', name, 'package.json'), 'utf8')).version;
const deps = CONSUMER_DEPS.map((name) => `${name}@${versionOf(name)}`);
// --ignore-scripts: websession has no install scripts (checked below), nor do these packages.
run(
  `npm install the tarball + ${deps.join(' ')}`,
  'npm',
  ['install', '--no-audit', '--no-fund', '--prefer-offline', '--ignore-scripts', join(work, packed.filename), ...deps],
  { cwd: app },
);
const installed = JSON.parse(readFileSync(join(app, 'node_modules/websession/package.json'), 'utf8'));
const hooks = ['preinstall', 'install', 'postinstall', 'prepare'].filter((s) => installed.scripts?.[s]);
if (hooks.length) fail(`the published package.json has install scripts: ${hooks.join(', ')}`);
if (installed.version !== pkg.version) fail(`installed websession ${installed.version}, expected ${pkg.version}`);
console.log(`  node_modules/websession ${installed.version}; its dependencies: ${Object.keys(installed.dependencies ?? {}).join(', ') || 'none'}`);

// ---- 3. type-check a consumer .ts file -----------------------------------------------------
copyFileSync(join(ROOT, 'scripts/pack-smoke/consumer.ts'), join(app, 'consumer.ts'));
copyFileSync(join(ROOT, 'scripts/pack-smoke/consumer.mjs'), join(app, 'consumer.mjs'));
writeFileSync(
  join(app, 'tsconfig.json'),
  JSON.stringify(
    {
      compilerOptions: {
        target: 'ES2022',
        module: 'NodeNext',
        moduleResolution: 'NodeNext',
        lib: ['ES2022'], // a Node consumer: Request/Response come from @types/node, not the DOM lib
        types: ['node'],
        strict: true,
        skipLibCheck: false,
        noEmit: true,
      },
      files: ['consumer.ts'],
    },
    null,
    2,
  ),
);
const tsc = join(ROOT, 'node_modules/typescript/bin/tsc');
run(`tsc ${versionOf('typescript')} (NodeNext, strict, skipLibCheck false) on consumer.ts`, process.execPath, [tsc, '-p', 'tsconfig.json'], { cwd: app });

// ---- 4. run every entry point ----------------------------------------------------------------
console.log('- node consumer.mjs');
const start = performance.now();
const result = spawnSync(process.execPath, ['consumer.mjs'], { cwd: app, stdio: 'inherit', env: cleanEnv() });
if (result.status !== 0) fail(`consumer.mjs exited ${result.status ?? result.signal} (${secs(performance.now() - start)})`);

ok = true;
console.log(`pack-smoke: ok, ${entries.length} entry points packed, type-checked and run (${secs(performance.now() - t0)})`);
