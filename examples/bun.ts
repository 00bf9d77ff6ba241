// Bun.serve with websession/fetch.
// Run from the repository: npm run build && bun examples/bun.ts   (then open http://localhost:3000)
// PORT and SESSION_SECRET are read from the environment (a random secret without it).
import { withSession } from 'websession/fetch';

type Data = { views: number };

const server = Bun.serve({
  port: Number(process.env.PORT ?? 3000),
  fetch: withSession<Data>(
    async (_request, session) => {
      const views = ((await session.get('views')) ?? 0) + 1;
      await session.set('views', views);
      return new Response(`views: ${views}\n`);
    },
    { secret: process.env.SESSION_SECRET ?? crypto.randomUUID() },
  ),
});

console.log(`listening on http://localhost:${server.port}`);
