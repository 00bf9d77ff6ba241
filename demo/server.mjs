// The websession demo: an Express app on websession/express, with sign-in and sign-out,
// a counter, a flash message, and a page listing your sessions with "sign out everywhere".
// Run it with `npm start` (it builds first). Sessions survive a restart: the store is
// embedded and persistent unless REDIS_URL points at a Redis server.
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import express from 'express';
import session, { getSession } from '../dist/adapters/express.js';
import { openStore } from './store.mjs';

const root = dirname(dirname(fileURLToPath(import.meta.url)));
const dataDir = process.env.DEMO_DATA_DIR ?? join(root, '.data');
const port = Number(process.env.PORT ?? 3000);

/** A secret kept next to the data, so a restart does not invalidate every cookie. */
function secret() {
  if (process.env.SESSION_SECRET) return process.env.SESSION_SECRET;
  mkdirSync(dataDir, { recursive: true });
  const file = join(dataDir, 'secret');
  if (!existsSync(file)) writeFileSync(file, randomBytes(32).toString('base64url'), { mode: 0o600 });
  return readFileSync(file, 'utf8').trim();
}

const escape = (s) => String(s).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
const page = (title, body, flash) => `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>${escape(title)} · websession demo</title>
<style>body{font:16px/1.5 system-ui,sans-serif;max-width:40rem;margin:2rem auto;padding:0 1rem}
.flash{background:#e8f5e9;border:1px solid #a5d6a7;padding:.5rem 1rem;border-radius:4px}
form{display:inline}button{font:inherit;margin:.2rem}code{background:#f3f3f3;padding:0 .2rem}</style></head>
<body><h1>${escape(title)}</h1>${flash ? `<p class="flash" role="status">${escape(flash)}</p>` : ''}${body}
<p><a href="/">Home</a> · <a href="/sessions">Your sessions</a></p></body></html>`;

const { store, label, close } = await openStore(dataDir);
const middleware = session({
  secret: secret(),
  store,
  resave: false,
  saveUninitialized: false,
  cookie: { maxAge: 7 * 24 * 3600 * 1000, sameSite: 'lax' },
});
const engine = middleware.engine;

const app = express();
app.use(express.urlencoded({ extended: false }));
app.use(middleware);

app.get('/', async (req, res) => {
  const flash = await getSession(req).flash('message');
  const user = req.session.user;
  const body = user
    ? `<p>Signed in as <strong id="user">${escape(user)}</strong>.</p>
       <p>Counter: <strong id="counter">${req.session.count ?? 0}</strong>
       <form method="post" action="/count"><button id="increment">+1</button></form></p>
       <form method="post" action="/logout"><button id="logout">Sign out</button></form>`
    : `<form method="post" action="/login"><label>Name <input name="name" id="name" required maxlength="40"></label>
       <button id="login">Sign in</button></form>`;
  res.send(page('websession demo', `${body}<p><small>Store: ${escape(label)}</small></p>`, flash));
});

app.post('/login', async (req, res) => {
  const name = String(req.body?.name ?? '').trim().slice(0, 40);
  if (!name) return res.redirect(303, '/');
  // A new ID on sign-in: any ID planted before sign-in stops working (session fixation).
  await req.session.regenerate();
  req.session.user = name;
  req.session.count = 0;
  const handle = getSession(req);
  await handle.setUser(name);
  await handle.flash('message', `Welcome, ${name}!`);
  res.redirect(303, '/');
});

app.post('/count', (req, res) => {
  if (!req.session.user) return res.redirect(303, '/');
  req.session.count = (req.session.count ?? 0) + 1;
  res.redirect(303, '/');
});

app.post('/logout', async (req, res) => {
  await req.session.destroy();
  res.redirect(303, '/');
});

app.get('/sessions', async (req, res) => {
  const user = req.session.user;
  if (!user) return res.send(page('Your sessions', '<p>Sign in first.</p>'));
  if (!store.capabilities.listing) return res.send(page('Your sessions', `<p>This store (${escape(label)}) cannot list sessions.</p>`));
  const sessions = await engine.listSessions(user);
  const rows = sessions
    .map(({ id, record }) => {
      const created = new Date(record._ws?.c ?? Date.now()).toISOString().replace('T', ' ').slice(0, 19);
      const seen = new Date(record._ws?.a ?? Date.now()).toISOString().replace('T', ' ').slice(0, 19);
      return `<li class="session">${id === req.sessionID ? '<strong>this browser</strong>' : 'another browser'}: signed in ${created} UTC, last seen ${seen} UTC</li>`;
    })
    .join('');
  res.send(
    page(
      'Your sessions',
      `<ul id="sessions">${rows}</ul>
       <form method="post" action="/logout-others"><button id="logout-others">Sign out everywhere else</button></form>
       <form method="post" action="/logout-everywhere"><button id="logout-everywhere">Sign out everywhere</button></form>`,
    ),
  );
});

app.post('/logout-others', async (req, res) => {
  if (req.session.user) {
    const n = await engine.destroyUserSessions(req.session.user, { exceptId: req.sessionID });
    await getSession(req).flash('message', `Signed out ${n} other session${n === 1 ? '' : 's'}.`);
  }
  res.redirect(303, '/sessions');
});

app.post('/logout-everywhere', async (req, res) => {
  if (req.session.user) await engine.destroyUserSessions(req.session.user);
  await req.session.destroy();
  res.redirect(303, '/');
});

// PORT=0 picks a free port; the line below says which (the e2e test reads it).
const server = app.listen(port, () => console.log(`websession demo on http://localhost:${server.address().port} (sessions in ${label})`));
const stop = () => {
  server.close(() => Promise.resolve(close()).finally(() => process.exit(0)));
  server.closeIdleConnections(); // a browser's idle keep-alive connections would hold close() open
  setTimeout(() => process.exit(0), 3000).unref(); // and a busy one at most this long
};
process.on('SIGINT', stop);
process.on('SIGTERM', stop);
