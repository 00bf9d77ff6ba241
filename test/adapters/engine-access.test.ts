import { Hono } from 'hono';
import { describe, expect, it } from 'vitest';
import { withSession } from '../../adapters/fetch.ts';
import { session, type SessionVariables } from '../../adapters/hono.ts';

const secret = 'engine access secret that is long enough';

describe('engineFor on the Hono middleware and the fetch wrapper', () => {
  it("lets a Hono app list a user's sessions and sign out the others", async () => {
    const middleware = session({ secret });
    const app = new Hono<{ Variables: SessionVariables }>();
    app.use(middleware);
    app.post('/login', async (c) => {
      const s = c.get('session');
      await s.regenerate();
      await s.setUser('carol');
      return c.text('ok');
    });
    app.post('/others-out', async (c) => {
      const s = c.get('session');
      await s.load();
      return c.json(await middleware.engineFor(c.env).destroyUserSessions('carol', { exceptId: s.id }));
    });
    const login = async () => (await app.request('https://app.test/login', { method: 'POST' })).headers.getSetCookie()[0]!.split(';')[0]!;
    const laptop = await login();
    await login();
    expect(await middleware.engineFor().listSessions('carol')).toHaveLength(2);
    const res = await app.request('https://app.test/others-out', { method: 'POST', headers: { cookie: laptop } });
    expect(await res.json()).toBe(1);
    expect(await middleware.engineFor().listSessions('carol')).toHaveLength(1);
  });

  it('gives a fetch handler built from env options one engine per env', async () => {
    const handler = withSession(async (_req, s) => {
      await s.set('n', 1);
      return new Response('ok');
    }, (env: { SECRET: string }) => ({ secret: env.SECRET }));
    const env = { SECRET: secret };
    await handler(new Request('https://app.test/'), env);
    expect(handler.engineFor(env)).toBe(handler.engineFor(env));
    expect(handler.engineFor(env)).not.toBe(handler.engineFor({ SECRET: secret }));
  });
});
