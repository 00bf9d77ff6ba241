// Plain node:http with websession/node.
// Run from the repository: npm run build && node examples/node-http.mjs   (then open http://localhost:3000)
// PORT and SESSION_SECRET are read from the environment (a random secret without it).
import { createServer } from 'node:http';
import { withSession } from 'websession/node';

const handler = withSession(
  async (req, res, session) => {
    const views = ((await session.get('views')) ?? 0) + 1;
    await session.set('views', views);
    res.setHeader('content-type', 'text/plain; charset=utf-8');
    res.end(`views: ${views}\n`);
  },
  { secret: process.env.SESSION_SECRET ?? crypto.randomUUID() },
);

const server = createServer(handler).listen(Number(process.env.PORT ?? 3000), () => {
  console.log(`listening on http://localhost:${server.address().port}`);
});
