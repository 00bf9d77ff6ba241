/**
 * Security reference §3 group K: header injection through cookie options.
 *
 * Every bad option must throw `SessionError('ERR_CONFIG')` at construction, on the core and on
 * every adapter (node, Express, Hono, fetch), never per request and never by writing a broken
 * Set-Cookie. test/options.test.ts covers `resolveOptions` input by input; here the same inputs
 * go through each public entry point, and the per-request cookie function of the Express
 * adapter (where a header value can reach the options) is driven over HTTP.
 */
import express from 'express';
import { describe, expect, it, vi } from 'vitest';
import session from '../../adapters/express.ts';
import { withSession as fetchSession } from '../../adapters/fetch.ts';
import { session as honoSession } from '../../adapters/hono.ts';
import { withSession } from '../../adapters/node.ts';
import { createMemoryStore, createSessionEngine } from '../../src/index.ts';
import { get, SECRET, serveListener } from './helpers.ts';

type Options = { name?: unknown; cookie?: Record<string, unknown> };

/** Builds the core engine and every adapter with `options`; returns what each one threw. */
function buildAll(options: Options): Record<string, unknown> {
  const store = createMemoryStore({ sweepInterval: 0 });
  const base = { secret: SECRET, ...options } as never;
  const builders: Record<string, () => unknown> = {
    core: () => createSessionEngine({ ...(base as object), store } as never),
    node: () => withSession(() => {}, base),
    hono: () => honoSession(base),
    fetch: () => fetchSession(async () => new Response(), base),
    express: () => session({ ...(base as object), resave: false, saveUninitialized: false } as never),
  };
  const thrown: Record<string, unknown> = {};
  for (const [label, build] of Object.entries(builders)) {
    try {
      build();
      thrown[label] = 'built';
    } catch (error) {
      thrown[label] = (error as { code?: unknown }).code ?? (error as Error).name;
    }
  }
  return thrown;
}

const REFUSED = { core: 'ERR_CONFIG', node: 'ERR_CONFIG', hono: 'ERR_CONFIG', fetch: 'ERR_CONFIG', express: 'ERR_CONFIG' };
const BUILT = { core: 'built', node: 'built', hono: 'built', fetch: 'built', express: 'built' };

function expectRefused(cases: Options[]): void {
  for (const options of cases) expect({ options, thrown: buildAll(options) }).toEqual({ options, thrown: REFUSED });
}

describe('K. header injection through cookie options', () => {
  it('K1: a domain with "; HttpOnly", CRLF or a space throws at construction everywhere; an attacker-controlled per-request domain never reaches a header', async () => {
    expectRefused([{ cookie: { domain: 'example.com; HttpOnly' } }, { cookie: { domain: 'evil.com\r\nX: y' } }, { cookie: { domain: 'exa mple.com' } }, { cookie: { domain: 'évil.test' } }, { cookie: { domain: 'a,b.test' } }]);
    expect(buildAll({ cookie: { domain: 'example.com' } })).toEqual(BUILT);
    // express-session 1.19's function form: cookie options per request, here from a header.
    const app = express();
    app.use(session({ secret: SECRET, resave: false, saveUninitialized: true, cookie: (req) => ({ domain: String(req.headers['x-tenant'] ?? 'app.test') }) }));
    app.get('/', (_req, res) => res.send('ok'));
    app.use((_err: unknown, _req: express.Request, res: express.Response, _next: express.NextFunction) => void res.status(500).send('bad cookie options'));
    const server = await serveListener(app);
    try {
      const fine = await get(server.url, '/');
      expect(fine.setCookie[0]).toMatch(/; Domain=app\.test;/);
      for (const tenant of ['evil.test; HttpOnly', 'evil.test;Max-Age=99999999', 'a b.test']) {
        const r = await get(server.url, '/', { headers: { 'x-tenant': tenant } });
        expect({ tenant, status: r.status, setCookie: r.setCookie }).toEqual({ tenant, status: 500, setCookie: [] });
      }
    } finally {
      await server.close();
    }
  });

  it('K2: a path with ";", a newline, NUL or non-ASCII throws at construction everywhere', () => {
    expectRefused([{ cookie: { path: '/a;Secure' } }, { cookie: { path: '/\n' } }, { cookie: { path: '/\r\nSet-Cookie: x=1' } }, { cookie: { path: '/\0' } }, { cookie: { path: '/é' } }, { cookie: { path: 42 } }]);
    expect(buildAll({ cookie: { path: '/app' } })).toEqual(BUILT);
  });

  it('K3: sameSite "Lax; Domain=evil" and priority "High\\r\\n" (from JS, past the types) throw: enums are checked at runtime', () => {
    expectRefused([
      { cookie: { sameSite: 'Lax; Domain=evil' } },
      { cookie: { sameSite: 'lax\r\n' } },
      { cookie: { sameSite: 1 } },
      { cookie: { priority: 'High\r\n' } },
      { cookie: { priority: 'high; Secure' } },
      { cookie: { secure: 'true' } },
    ]);
    expect(buildAll({ cookie: { sameSite: 'strict', priority: 'high' } })).toEqual(BUILT);
  });

  it('K4: a name "sid=x", "sid;", "s id", "sid\\r\\n", empty or non-ASCII throws at construction everywhere', () => {
    expectRefused([{ name: 'sid=x' }, { name: 'sid;' }, { name: 's id' }, { name: 'sid\r\n' }, { name: '' }, { name: 'sïd' }, { name: 'sid\t' }, { name: 42 }]);
    expect(buildAll({ name: 'app.sid' })).toEqual(BUILT);
  });

  it('K5: maxAge NaN, Infinity, "60", beyond Date\'s range and an invalid expires throw; -1 and 1.5 are normalised to Max-Age=0 (whole seconds, never negative)', async () => {
    expectRefused([
      { cookie: { maxAge: Number.NaN } },
      { cookie: { maxAge: Number.POSITIVE_INFINITY } },
      { cookie: { maxAge: '60' } },
      { cookie: { maxAge: 8.64e15 } },
      { cookie: { maxAge: -8.64e15 } },
      { cookie: { expires: new Date('x') } },
      { cookie: { expires: '2030-01-01' } },
    ]);
    // The documented rule for the values express-session accepts: Max-Age is floor(ms / 1000), at least 0.
    for (const maxAge of [-1, 1.5, 999]) {
      expect(buildAll({ cookie: { maxAge } })).toEqual(BUILT);
      const engine = createSessionEngine({ secret: SECRET, store: createMemoryStore({ sweepInterval: 0 }), cookie: { maxAge } });
      const s = engine.load({ secure: true });
      await s.set('n', 1);
      expect((await engine.commit(s)).setCookie[0]).toMatch(/; Max-Age=0;/);
    }
  });

  it('K6: a __Host- name with a domain, a path other than "/" or without secure: true throws; so does __Secure- without secure', () => {
    vi.spyOn(console, 'warn').mockImplementation(() => {});
    expectRefused([
      { name: '__Host-sid', cookie: { secure: true, domain: 'example.com' } },
      { name: '__Host-sid', cookie: { secure: true, path: '/app' } },
      { name: '__Host-sid', cookie: { secure: false } },
      { name: '__Host-sid', cookie: { secure: 'auto' } },
      { name: '__Host-sid' },
      { name: '__Secure-sid', cookie: { secure: false } },
      { name: '__Secure-sid' },
    ]);
    expect(buildAll({ name: '__Host-sid', cookie: { secure: true } })).toEqual(BUILT);
    vi.restoreAllMocks();
  });
});
