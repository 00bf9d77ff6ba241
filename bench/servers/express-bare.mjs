// Bare Express 5: the same routes and bodies, no session middleware.
import express from 'express';
import { action, ready } from './_common.mjs';

const app = express();
app.get('/login', (req, res) => res.send('ok'));
app.get('/', (req, res) => {
  if (action === 'read') res.send(req.headers.cookie ? 'hi alice' : 'hi guest');
  else if (action === 'write') res.send('1');
  else res.send('ok');
});
const server = app.listen(0, '127.0.0.1', () => ready(server.address().port));
