// Shared by every bench server: the scenario, the secret, the routes' behaviour, store-call
// counters, and the start-up protocol (print {"port":N} as one JSON line on stdout; answer
// {"type":"stats"} on the IPC channel when the orchestrator spawned us with one).
//
// Usage: node bench/servers/<variant>.mjs <S1|S2|S3|S4|S4R|S5R|S5W>   (or SCENARIO=... env)
//
// Routes (the same in every variant):
//   GET /login  writes { user: 'alice', views: 0 } into a new session (used to get cookies)
//   GET /       the scenario's route:
//     S1   never touches the session                      -> "ok"
//     S2   reads `user`                                   -> "hi alice"
//     S3   increments `views` (a write)                   -> "<n>"
//     S4   new visitor; sets `user` (creates a session)   -> "ok"
//     S4R  new visitor; reads `user`, writes nothing       -> "hi guest"
//     S5R / S5W  S2 / S3 with the Redis store (REDIS_URL)
// "bare" variants answer the same bodies without any session middleware.

export { websession } from '../lib/common.mjs';
import { websession } from '../lib/common.mjs';

export const SCENARIOS = ['S1', 'S2', 'S3', 'S4', 'S4R', 'S5R', 'S5W'];

export const scenario = String(process.argv[2] ?? process.env.SCENARIO ?? 'S2').toUpperCase();
if (!SCENARIOS.includes(scenario)) {
  console.error(`unknown scenario ${scenario}; expected one of ${SCENARIOS.join(', ')}`);
  process.exit(2);
}

/** What the route does with the session: none, read, write, create, read-new. */
export const action = { S1: 'none', S2: 'read', S3: 'write', S4: 'create', S4R: 'read', S5R: 'read', S5W: 'write' }[scenario];
/** Whether the scenario runs on Redis. */
export const onRedis = scenario.startsWith('S5');

// 64 hex characters: a valid secret for every library compared (@hono/session wants 32 bytes in
// hex, hono-sessions at least 32 characters, the others any string).
export const SECRET = process.env.BENCH_SECRET ?? '6b6579626f617264206361742c206b6579626f617264206361742c206b657962';

/** Store writes made by the session library: websession's from its events, the peers' by wrapping their stores. */
export const counts = { set: 0, touch: 0, destroy: 0 };

/**
 * websession's `onEvent` in the bench: counts every save, touch and destroy it reports. Its store
 * stays unwrapped: a wrapper would turn off the memory store's synchronous read and touch, which
 * the engine uses only while the store's own methods are in place. `watch(store)` adds an
 * independent check: the number of records the memory store holds (S4R must leave none).
 */
export function countWrites(event) {
  if (event.type === 'save') counts.set++;
  else if (event.type === 'touch') counts.touch++;
  else if (event.type === 'destroy') counts.destroy++;
}

let watched;
/** Reports `store.length` (the memory store's record count) with the stats; returns the store. */
export function watch(store) {
  watched = store;
  return store;
}

/** The Redis client for S5 (node-redis v4+ API), connected; or exits with a note. */
export async function redisClient() {
  const url = process.env.REDIS_URL;
  if (!url) {
    console.error('S5 needs REDIS_URL');
    process.exit(3);
  }
  const { createClient } = await import('redis');
  const client = createClient({ url });
  client.on('error', () => {});
  await client.connect();
  return client;
}

/** websession's Redis store, if it exists in dist/ (src/stores/redis.ts is written separately). */
export async function websessionRedisStore() {
  let mod;
  try {
    mod = await websession('src/stores/redis.js');
  } catch {
    console.error('S5: dist/src/stores/redis.js not found (src/stores/redis.ts not built yet)');
    process.exit(3);
  }
  const client = await redisClient();
  // Its own key prefix, so a shared Redis is not disturbed (and express-session's connect-redis uses another).
  return mod.createRedisStore(client, { prefix: `bench:${process.pid}:` });
}

/** Prints the port once listening, and answers stats requests from the orchestrator. */
export function ready(port) {
  process.stdout.write(`${JSON.stringify({ port, pid: process.pid, scenario })}\n`);
}

// Exit normally on a signal, so that `node --cpu-prof` writes its profile (bench/profile.mjs).
for (const signal of ['SIGTERM', 'SIGINT']) process.on(signal, () => process.exit(0));

if (typeof process.send === 'function') {
  process.on('message', (message) => {
    if (message && message.type === 'stats') {
      const cpu = process.cpuUsage();
      process.send({ type: 'stats', counts: { ...counts }, entries: typeof watched?.length === 'number' ? watched.length : undefined, cpuMicros: cpu.user + cpu.system, rss: process.memoryUsage().rss });
    }
  });
  // Exit with the orchestrator.
  process.on('disconnect', () => process.exit(0));
}
