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

/**
 * Store writes made by the session library, counted by the wrappers below (and the peers' own).
 * Reads are not wrapped in any variant: a wrapped `get` would also turn off websession's
 * synchronous read of its memory store, which only its own `get` enables.
 */
export const counts = { set: 0, touch: 0, destroy: 0 };

/** Wraps a websession store (promise API) to count writes; everything else is inherited. */
export function countingStore(store) {
  const counted = Object.create(store);
  counted.set = (...args) => (counts.set++, store.set(...args));
  counted.destroy = (...args) => (counts.destroy++, store.destroy(...args));
  if (typeof store.touch === 'function') counted.touch = (...args) => (counts.touch++, store.touch(...args));
  return counted;
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
      process.send({ type: 'stats', counts: { ...counts }, cpuMicros: cpu.user + cpu.system, rss: process.memoryUsage().rss });
    }
  });
  // Exit with the orchestrator.
  process.on('disconnect', () => process.exit(0));
}
