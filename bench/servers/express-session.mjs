// express-session 1.19 on Express 5, MemoryStore (or connect-redis for S5), store calls counted.
import express from 'express';
import session from 'express-session';
import { SECRET, counts, onRedis, ready, redisClient } from './_common.mjs';
import { routes } from './_express-routes.mjs';

let store;
if (onRedis) {
  const { RedisStore } = await import('connect-redis');
  store = new RedisStore({ client: await redisClient(), prefix: `bench:${process.pid}:` });
} else {
  store = new session.MemoryStore();
}
// Writes are counted (the table's `store writes`); reads are left unwrapped, as for every variant.
for (const method of ['set', 'touch', 'destroy']) {
  const original = store[method];
  store[method] = function counted(...args) {
    counts[method]++;
    return original.apply(this, args);
  };
}

const app = express();
app.use(session({ secret: SECRET, resave: false, saveUninitialized: false, store }));
routes(app);
const server = app.listen(0, '127.0.0.1', () => ready(server.address().port));
