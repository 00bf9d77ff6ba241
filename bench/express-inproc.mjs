// Express without the network: CPU per request of bare Express, bare Express with one empty
// middleware (the floor for any session middleware), express-session and websession/express,
// each driving real IncomingMessage/ServerResponse objects over an in-memory socket. No load generator and no loopback, so on a shared machine it is much steadier than the
// HTTP bench (which stays the reference for the targets); used to decide the changes to
// adapters/node-response.ts and adapters/express.ts.
//
//   node bench/express-inproc.mjs [--scenarios S1,S2,S3,S4] [--requests 5000] [--rounds 10]   (~1 min)
//
// Each variant and scenario runs in its own process (pinned to the server core when possible);
// the result is CPU time (user + system) per request, min and median over the rounds after the
// first four (warm-up).
import { execFileSync, spawnSync } from 'node:child_process';
import { IncomingMessage, ServerResponse } from 'node:http';
import { Duplex } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { pinning, table, websession } from './lib/common.mjs';

const SECRET = '6b6579626f617264206361742c206b6579626f617264206361742c206b657962';
const args = process.argv.slice(2);
const opt = (name, fallback) => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : fallback;
};

class NullSocket extends Duplex {
  _read() {}
  _write(_chunk, _encoding, callback) {
    callback();
  }
  _writev(_chunks, callback) {
    callback();
  }
}

/** One variant, one scenario, in this process: prints {"min":µs,"median":µs}. */
async function child(variant, scenario, requests, rounds) {
  const { default: express } = await import('express');
  const app = express();
  if (variant === 'websession') {
    const { default: session } = await websession('adapters/express.js');
    app.use(session({ secret: SECRET, resave: false, saveUninitialized: false }));
  } else if (variant === 'one-middleware') {
    // The floor for any session middleware: one middleware that only calls next().
    app.use((_req, _res, next) => next());
  } else if (variant === 'express-session') {
    const { default: session } = await import('express-session');
    app.use(session({ secret: SECRET, resave: false, saveUninitialized: false }));
  }
  const bare = variant === 'bare' || variant === 'one-middleware';
  app.get('/login', (req, res) => {
    if (!bare) Object.assign(req.session, { user: 'alice', views: 0 });
    res.send('ok');
  });
  app.get('/', (req, res) => {
    if (scenario === 'S1') return res.send('ok');
    if (scenario === 'S2') return res.send(bare ? 'hi alice' : `hi ${req.session.user ?? 'guest'}`);
    if (scenario === 'S3') {
      if (bare) return res.send('1');
      req.session.views = (req.session.views ?? 0) + 1;
      return res.send(String(req.session.views));
    }
    if (!bare) req.session.user = 'anon';
    res.send('ok');
  });
  let cookie;
  const returning = scenario === 'S2' || scenario === 'S3';
  const one = (url = '/') =>
    new Promise((resolve) => {
      const socket = new NullSocket();
      const req = new IncomingMessage(socket);
      req.method = 'GET';
      req.url = url;
      req.headers = cookie && returning ? { host: 'bench', cookie } : { host: 'bench' };
      req.complete = true;
      const res = new ServerResponse(req);
      res.assignSocket(socket);
      res.on('finish', () => {
        res.detachSocket(socket);
        const setCookie = res.getHeader('set-cookie');
        if (url === '/login' && setCookie) cookie = String(setCookie).split(';', 1)[0];
        resolve();
      });
      app(req, res);
    });
  if (!bare) {
    await one('/login');
    if (returning && !cookie) throw new Error(`${variant}: /login sent no cookie`);
  }
  const samples = [];
  for (let r = 0; r < rounds; r++) {
    const start = process.cpuUsage();
    for (let i = 0; i < requests; i++) await one();
    const used = process.cpuUsage(start);
    if (r >= 4) samples.push((used.user + used.system) / requests);
  }
  samples.sort((a, b) => a - b);
  process.stdout.write(JSON.stringify({ min: samples[0], median: samples[Math.floor(samples.length / 2)] }));
}

if (process.env.BENCH_INPROC_CHILD) {
  const [variant, scenario, requests, rounds] = process.env.BENCH_INPROC_CHILD.split(',');
  await child(variant, scenario, Number(requests), Number(rounds));
} else {
  const scenarios = opt('--scenarios', 'S1,S2,S3,S4').split(',');
  const requests = Number(opt('--requests', 5_000));
  const rounds = Number(opt('--rounds', 10));
  const self = fileURLToPath(import.meta.url);
  const rows = [];
  for (const scenario of scenarios) {
    const result = {};
    for (const variant of ['bare', 'one-middleware', 'express-session', 'websession']) {
      const command = pinning.enabled ? ['taskset', ['-c', pinning.serverCore, process.execPath, self]] : [process.execPath, [self]];
      const out = spawnSync(command[0], command[1], { env: { ...process.env, BENCH_INPROC_CHILD: `${variant},${scenario},${requests},${rounds}` }, encoding: 'utf8' });
      if (out.status !== 0) {
        console.error(out.stderr);
        process.exit(1);
      }
      result[variant] = JSON.parse(out.stdout);
    }
    const fmt = (x) => `${x.toFixed(1)} µs`;
    const ratio = (a, b) => `${(b / a).toFixed(2)}x`;
    rows.push([
      scenario,
      fmt(result.bare.min),
      `${fmt(result['one-middleware'].min)} (${ratio(result['one-middleware'].min, result.bare.min)})`,
      fmt(result['express-session'].min),
      fmt(result.websession.min),
      ratio(result.websession.min, result['express-session'].min),
      ratio(result.websession.min, result.bare.min),
    ]);
  }
  let head = '';
  try {
    head = execFileSync('git', ['rev-parse', '--short', 'HEAD'], { encoding: 'utf8' }).trim();
  } catch {
    // not a git checkout
  }
  console.log(`express in-process, CPU per request (min over ${rounds - 4} rounds of ${requests} requests), code ${head}, Node ${process.version}`);
  console.log(
    table(
      ['scenario', 'bare Express', 'one empty middleware (speed vs bare)', 'express-session', 'websession/express', 'websession speed vs express-session', 'websession speed vs bare'],
      rows,
    ),
  );
}
