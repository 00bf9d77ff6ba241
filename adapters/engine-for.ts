/**
 * One engine per configuration, shared by the Hono and fetch adapters: options given as an
 * object build the engine at once (so bad options throw at construction); options given as a
 * function of `env` (Workers keep secrets and bindings there) build it on first use, cached per
 * `env` object. Adapters that are given no store share one memory store.
 * @module
 */
import { createMemoryStore, createSessionEngine, type SessionData, type SessionEngine, type SessionOptions, type Store } from '../src/index.ts';

/** Core options with the store optional (a memory store by default). */
export type AdapterOptions = Omit<SessionOptions, 'store'> & {
  /** Where sessions are kept. @default a memory store, one per adapter instance */
  store?: Store | undefined;
};

/** Returns the engine for an `env` (the same one for every call when options are an object). */
export function engineResolver<Data extends SessionData, Env>(options: AdapterOptions | ((env: Env) => AdapterOptions)): (env: Env) => SessionEngine<Data> {
  let memory: Store | undefined;
  const build = (opts: AdapterOptions): SessionEngine<Data> => createSessionEngine<Data>({ ...opts, store: opts?.store ?? (memory ??= createMemoryStore()) });
  if (typeof options !== 'function') {
    const engine = build(options);
    return () => engine;
  }
  const byEnv = new WeakMap<object, SessionEngine<Data>>();
  let noEnv: SessionEngine<Data> | undefined;
  return (env) => {
    if (env === null || (typeof env !== 'object' && typeof env !== 'function')) return (noEnv ??= build(options(env)));
    let engine = byEnv.get(env);
    if (engine === undefined) byEnv.set(env, (engine = build(options(env))));
    return engine;
  };
}
