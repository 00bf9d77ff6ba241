// @hono/session 0.2 in server-side storage mode (useSessionStorage) with a Map-backed storage;
// the cookie is a JWE holding the session ID. Store calls counted.
import { serve } from '@hono/node-server';
import { useSession, useSessionStorage } from '@hono/session';
import { Hono } from 'hono';
import { SECRET, action, counts, ready } from './_common.mjs';

const map = new Map();
const storage = {
  get: (sid) => map.get(sid) ?? null,
  set: (sid, value) => (counts.set++, void map.set(sid, value)),
  delete: (sid) => (counts.destroy++, void map.delete(sid)),
};

const app = new Hono();
app.use(useSessionStorage(storage), useSession({ secret: SECRET }));
app.get('/login', async (c) => {
  await c.var.session.update({ user: 'alice', views: 0 });
  return c.text('ok');
});
app.get('/', async (c) => {
  if (action === 'none') return c.text('ok');
  if (action === 'read') return c.text(`hi ${(await c.var.session.get())?.user ?? 'guest'}`);
  if (action === 'write') {
    let views = 0;
    await c.var.session.update((prev) => ({ ...prev, views: (views = (prev?.views ?? 0) + 1) }));
    return c.text(String(views));
  }
  await c.var.session.update({ user: 'anon' });
  return c.text('ok');
});
serve({ fetch: app.fetch, port: 0, hostname: '127.0.0.1' }, (info) => ready(info.port));
