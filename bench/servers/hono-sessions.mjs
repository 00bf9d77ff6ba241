// hono-sessions 0.8 with its MemoryStore (sid encrypted with iron-webcrypto), store calls counted.
// It has no resave/saveUninitialized options: it creates and stores a session for every visitor.
import { serve } from '@hono/node-server';
import { Hono } from 'hono';
import { MemoryStore, sessionMiddleware } from 'hono-sessions';
import { SECRET, action, counts, ready } from './_common.mjs';

const store = new MemoryStore();
for (const [method, key] of [['createSession', 'set'], ['persistSessionData', 'set'], ['deleteSession', 'destroy']]) {
  const original = store[method].bind(store);
  store[method] = (...args) => (counts[key]++, original(...args));
}

const app = new Hono();
app.use('*', sessionMiddleware({ store, encryptionKey: SECRET, cookieOptions: { path: '/', httpOnly: true, sameSite: 'Lax' } }));
app.get('/login', (c) => {
  const s = c.get('session');
  s.set('user', 'alice');
  s.set('views', 0);
  return c.text('ok');
});
app.get('/', (c) => {
  const s = c.get('session');
  if (action === 'none') return c.text('ok');
  if (action === 'read') return c.text(`hi ${s.get('user') ?? 'guest'}`);
  if (action === 'write') {
    const views = (s.get('views') ?? 0) + 1;
    s.set('views', views);
    return c.text(String(views));
  }
  s.set('user', 'anon');
  return c.text('ok');
});
serve({ fetch: app.fetch, port: 0, hostname: '127.0.0.1' }, (info) => ready(info.port));
