// A Cloudflare Worker with websession/fetch and the Workers KV store.
// Bindings: a KV namespace `SESSIONS` and a secret `SESSION_SECRET`, declared in
// examples/wrangler.jsonc. Run it locally from the repository:
//   npm run build && npx wrangler dev -c examples/wrangler.jsonc --var SESSION_SECRET:<a long random string>
// test/examples.test.ts bundles this file with esbuild and runs it inside workerd (Miniflare).
import { withSession } from 'websession/fetch';
import { createKvStore, type KvNamespaceLike } from 'websession/stores/kv';

interface Env {
  SESSION_SECRET: string;
  SESSIONS: KvNamespaceLike; // a KVNamespace
}

type Data = { views: number };

export default {
  fetch: withSession<Data, Env>(
    async (_request, session) => {
      const views = ((await session.get('views')) ?? 0) + 1;
      await session.set('views', views);
      return new Response(`views: ${views}\n`);
    },
    // A function of `env`: the engine is built on first use and cached per env object.
    (env) => ({ secret: env.SESSION_SECRET, store: createKvStore(env.SESSIONS) }),
  ),
};
