// A bare fetch handler (Request in, Response out) served on Node by @hono/node-server, as a
// Workers/Deno/Bun-style app would be: the same routes and bodies, no session.
import { serve } from '@hono/node-server';
import { action, ready } from './_common.mjs';
import { pathOf, text } from './_fetch.mjs';

const fetch = (request) => {
  let body = 'ok';
  if (pathOf(request) !== '/login') {
    if (action === 'read') body = request.headers.get('cookie') ? 'hi alice' : 'hi guest';
    else if (action === 'write') body = '1';
  }
  return text(body);
};
serve({ fetch, port: 0, hostname: '127.0.0.1' }, (info) => ready(info.port));
