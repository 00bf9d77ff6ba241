// websession/node (the built package): withSession on node:http, memory store (Redis for S5), store writes counted from its events.
import { createServer } from 'node:http';
import { SECRET, action, countWrites, onRedis, ready, watch, websession, websessionRedisStore } from './_common.mjs';

// websession/node and websession, from the built package (dist/, or the run's snapshot of it).
const { withSession } = await websession('adapters/node.js');
const { createMemoryStore } = await websession('src/index.js');

const store = onRedis ? await websessionRedisStore() : watch(createMemoryStore());
const send = (res, body) => {
  res.setHeader('content-type', 'text/plain; charset=utf-8');
  res.end(body);
};
const server = createServer(
  withSession(
    async (req, res, session) => {
      if (req.url === '/login') {
        await session.set('user', 'alice');
        await session.set('views', 0);
        return send(res, 'ok');
      }
      if (action === 'none') return send(res, 'ok');
      if (action === 'read') return send(res, `hi ${(await session.get('user')) ?? 'guest'}`);
      if (action === 'write') {
        const views = ((await session.get('views')) ?? 0) + 1;
        await session.set('views', views);
        return send(res, String(views));
      }
      await session.set('user', 'anon');
      send(res, 'ok');
    },
    { secret: SECRET, resave: false, saveUninitialized: false, store, onEvent: countWrites },
  ),
);
server.listen(0, '127.0.0.1', () => ready(server.address().port));
