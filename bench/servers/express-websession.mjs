// websession/express (the built package) on Express 5, memory store (Redis for S5), store calls counted.
import express from 'express';
import session from 'websession/express';
import { createMemoryStore } from 'websession';
import { SECRET, countingStore, onRedis, ready, websessionRedisStore } from './_common.mjs';
import { routes } from './_express-routes.mjs';

const store = countingStore(onRedis ? await websessionRedisStore() : createMemoryStore());
const app = express();
app.use(session({ secret: SECRET, resave: false, saveUninitialized: false, store }));
routes(app);
const server = app.listen(0, '127.0.0.1', () => ready(server.address().port));
