// The floor for a session middleware on Hono (S2 only): one middleware that reads the session
// from a Map (bench/servers/_floor.mjs) and sets c.var.session. No signing, no store, no commit:
// no session library can cost less. A reference row, not a competitor.
import { serve } from '@hono/node-server';
import { Hono } from 'hono';
import { create, read } from './_floor.mjs';
import { ready } from './_common.mjs';

const app = new Hono();
app.use(async (c, next) => {
  c.set('session', read(c.req.header('cookie')));
  await next();
});
app.get('/login', (c) => {
  c.header('set-cookie', `${create({ user: 'alice', views: 0 })}; Path=/; HttpOnly`);
  return c.text('ok');
});
app.get('/', (c) => c.text(`hi ${c.get('session').user ?? 'guest'}`));
serve({ fetch: app.fetch, port: 0, hostname: '127.0.0.1' }, (info) => ready(info.port));
