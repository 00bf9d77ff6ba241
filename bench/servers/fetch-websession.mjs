// websession/fetch (the built package): withSession around a fetch handler served on Node by
// @hono/node-server, memory store (Redis for S5), store writes counted from its events.
import { serve } from '@hono/node-server';
import { SECRET, action, countWrites, onRedis, ready, watch, websession, websessionRedisStore } from './_common.mjs';
import { pathOf, text } from './_fetch.mjs';

// websession/fetch and websession, from the built package (dist/, or the run's snapshot of it).
const { withSession } = await websession('adapters/fetch.js');
const { createMemoryStore } = await websession('src/index.js');

const store = onRedis ? await websessionRedisStore() : watch(createMemoryStore());
const fetch = withSession(
  async (request, session) => {
    if (pathOf(request) === '/login') {
      await session.set('user', 'alice');
      await session.set('views', 0);
      return text('ok');
    }
    if (action === 'none') return text('ok');
    if (action === 'read') return text(`hi ${(await session.get('user')) ?? 'guest'}`);
    if (action === 'write') {
      const views = ((await session.get('views')) ?? 0) + 1;
      await session.set('views', views);
      return text(String(views));
    }
    await session.set('user', 'anon');
    return text('ok');
  },
  { secret: SECRET, resave: false, saveUninitialized: false, store, onEvent: countWrites },
);
serve({ fetch, port: 0, hostname: '127.0.0.1' }, (info) => ready(info.port));
