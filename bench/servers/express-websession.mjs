// websession/express (the built package) on Express 5, memory store (Redis for S5), store writes counted from its events.
import express from 'express';
import { SECRET, countWrites, onRedis, ready, watch, websession, websessionRedisStore } from './_common.mjs';

// websession/express and websession, from the built package (dist/, or the run's snapshot of it).
const { default: session } = await websession('adapters/express.js');
const { createMemoryStore } = await websession('src/index.js');
import { routes } from './_express-routes.mjs';

const store = onRedis ? await websessionRedisStore() : watch(createMemoryStore());
const app = express();
app.use(session({ secret: SECRET, resave: false, saveUninitialized: false, store, onEvent: countWrites }));
routes(app);
const server = app.listen(0, '127.0.0.1', () => ready(server.address().port));
