// Bare Hono 4 on @hono/node-server: the same routes and bodies, no session middleware.
import { serve } from '@hono/node-server';
import { Hono } from 'hono';
import { action, ready } from './_common.mjs';

const app = new Hono();
app.get('/login', (c) => c.text('ok'));
app.get('/', (c) => {
  if (action === 'read') return c.text(c.req.header('cookie') ? 'hi alice' : 'hi guest');
  if (action === 'write') return c.text('1');
  return c.text('ok');
});
serve({ fetch: app.fetch, port: 0, hostname: '127.0.0.1' }, (info) => ready(info.port));
