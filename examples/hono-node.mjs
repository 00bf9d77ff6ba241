// Hono on Node.js (@hono/node-server) with websession/hono.
// Run from the repository: npm run build && node examples/hono-node.mjs   (then open http://localhost:3000)
// PORT and SESSION_SECRET are read from the environment (a random secret without it).
import { serve } from '@hono/node-server';
import { Hono } from 'hono';
import { session } from 'websession/hono';

const app = new Hono();
app.use(session({ secret: process.env.SESSION_SECRET ?? crypto.randomUUID() }));

app.get('/', async (c) => {
  const s = c.get('session'); // lazy: nothing is verified or read until used
  const views = ((await s.get('views')) ?? 0) + 1;
  await s.set('views', views);
  return c.text(`views: ${views}\n`);
});

serve({ fetch: app.fetch, port: Number(process.env.PORT ?? 3000) }, (info) => {
  console.log(`listening on http://localhost:${info.port}`);
});
