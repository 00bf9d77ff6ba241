// websession/hono (the built package) on @hono/node-server, memory store (Redis for S5), store writes counted from its events.
import { serve } from '@hono/node-server';
import { Hono } from 'hono';
import { SECRET, action, countWrites, onRedis, ready, watch, websession, websessionRedisStore } from './_common.mjs';

// websession/hono and websession, from the built package (dist/, or the run's snapshot of it).
const { session } = await websession('adapters/hono.js');
const { createMemoryStore } = await websession('src/index.js');

const store = onRedis ? await websessionRedisStore() : watch(createMemoryStore());
const app = new Hono();
app.use(session({ secret: SECRET, resave: false, saveUninitialized: false, store, onEvent: countWrites }));
app.get('/login', async (c) => {
  const s = c.get('session');
  await s.set('user', 'alice');
  await s.set('views', 0);
  return c.text('ok');
});
app.get('/', async (c) => {
  const s = c.get('session');
  if (action === 'none') return c.text('ok');
  if (action === 'read') return c.text(`hi ${(await s.get('user')) ?? 'guest'}`);
  if (action === 'write') {
    const views = ((await s.get('views')) ?? 0) + 1;
    await s.set('views', views);
    return c.text(String(views));
  }
  await s.set('user', 'anon');
  return c.text('ok');
});
serve({ fetch: app.fetch, port: 0, hostname: '127.0.0.1' }, (info) => ready(info.port));
