// The floor for a session middleware on Express 5 (S2 only): one middleware that reads the
// session from a Map (bench/servers/_floor.mjs) and sets req.session. No signing, no store, no
// commit: no session library can cost less. A reference row, not a competitor.
import express from 'express';
import { create, read } from './_floor.mjs';
import { ready } from './_common.mjs';

const app = express();
app.use((req, _res, next) => {
  req.session = read(req.headers.cookie);
  next();
});
app.get('/login', (_req, res) => {
  res.setHeader('set-cookie', `${create({ user: 'alice', views: 0 })}; Path=/; HttpOnly`);
  res.send('ok');
});
app.get('/', (req, res) => res.send(`hi ${req.session.user ?? 'guest'}`));
const server = app.listen(0, '127.0.0.1', () => ready(server.address().port));
