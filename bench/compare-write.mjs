// A returning visitor's write, in-process, for two builds side by side: engine load + get + set +
// commit on the memory store with node:crypto's HMAC (the Express and node adapters' setting),
// 12 interleaved rounds of 20,000 (the first two dropped), median ns per request for each build.
// It isolates the engine's part of S3, which the HTTP bench cannot resolve and whose instruction
// count moves by ±6,000 between runs (clock-driven work in the server).
//
//   node bench/compare-write.mjs <dist dir A> <dist dir B>    (e.g. bench/.dist-old bench/.dist-new,
//   each from `npx tsc -p tsconfig.build.json --outDir <dir>` on the build to compare)
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';

const dirs = process.argv.slice(2);
if (dirs.length !== 2) {
  console.error('usage: node bench/compare-write.mjs <dist dir A> <dist dir B>');
  process.exit(2);
}
const SECRET = 'k'.repeat(64);

async function setup(dir) {
  const at = (p) => import(pathToFileURL(resolve(dir, p)).href);
  const core = await at('src/index.js');
  const { nodeHmac } = await at('adapters/node-hmac.js');
  const engine = core.createSessionEngine({ secret: SECRET, store: core.createMemoryStore({ sweepInterval: 0 }), hmac: nodeHmac, resave: false, saveUninitialized: false });
  const cookies = [];
  for (let i = 0; i < 8; i++) {
    const s = engine.load({ cookie: undefined, secure: true });
    await s.set('user', 'alice');
    await s.set('views', 0);
    cookies.push((await engine.commit(s)).setCookie[0].split(';')[0]);
  }
  return { dir, engine, cookies };
}

/** ns per request over `n` requests. Builds without commitNowOrLater() (before session 15) commit as their adapters did. */
async function round({ engine, cookies }, n) {
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < n; i++) {
    const s = engine.load({ cookie: cookies[i & 7], secure: true });
    if (!engine.loadNow(s)) await s.load();
    await s.set('views', ((await s.get('views')) ?? 0) + 1);
    const result = engine.commitNowOrLater ? engine.commitNowOrLater(s) : (engine.commitNow(s) ?? engine.commit(s));
    if (result instanceof Promise) await result;
  }
  return Number(process.hrtime.bigint() - t0) / n;
}

const builds = [await setup(dirs[0]), await setup(dirs[1])];
const times = builds.map(() => []);
for (let r = 0; r < 12; r++) {
  const order = r % 2 === 0 ? [0, 1] : [1, 0];
  for (const i of order) times[i].push(await round(builds[i], 20_000));
}
for (const [i, b] of builds.entries()) {
  const kept = times[i].slice(2).sort((x, y) => x - y);
  console.log(`${b.dir}: median ${kept[Math.floor(kept.length / 2)].toFixed(0)} ns per request, min ${kept[0].toFixed(0)}`);
}
