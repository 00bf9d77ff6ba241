// Deno.serve with websession/fetch.
// Run from the repository (Deno resolves `websession/*` through package.json to dist/):
//   npm run build && deno run --allow-net --allow-env --allow-read examples/deno.ts
// PORT and SESSION_SECRET are read from the environment (a random secret without it).
import { withSession } from 'websession/fetch';

type Data = { views: number };

const handler = withSession<Data>(
  async (_request, session) => {
    const views = ((await session.get('views')) ?? 0) + 1;
    await session.set('views', views);
    return new Response(`views: ${views}\n`);
  },
  // Plain options, not a function of `env`: Deno passes a new info object with every request.
  { secret: Deno.env.get('SESSION_SECRET') ?? crypto.randomUUID() },
);

Deno.serve(
  {
    port: Number(Deno.env.get('PORT') ?? 3000),
    onListen: ({ port }) => console.log(`listening on http://localhost:${port}`),
  },
  handler,
);
