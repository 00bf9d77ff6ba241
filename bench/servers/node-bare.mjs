// Bare node:http: the same routes and bodies, no session.
import { createServer } from 'node:http';
import { action, ready } from './_common.mjs';

const server = createServer((req, res) => {
  let body = 'ok';
  if (req.url !== '/login') {
    if (action === 'read') body = req.headers.cookie ? 'hi alice' : 'hi guest';
    else if (action === 'write') body = '1';
  }
  res.setHeader('content-type', 'text/plain; charset=utf-8');
  res.end(body);
});
server.listen(0, '127.0.0.1', () => ready(server.address().port));
