/**
 * Security reference §3 group C: secret rotation.
 *
 * websession's rotation is express-session's: `secret` is a list, the first signs and every one
 * verifies; a cookie that verified only under a later one is re-signed with the first (the
 * engine's deliberate fix 5). There are no key IDs in the cookie (the wire format has none), so
 * each candidate costs one HMAC per configured secret.
 *
 * Not applicable here, by design:
 * - C5 (a cookie-only payload with an unknown key ID): websession has no cookie-only/encrypted
 *   mode; the cookie carries only a signed ID, so there is no payload and no key ID.
 * - The "stable derived key ID" half of C7: there are no key IDs; C7 checks that a string and its
 *   UTF-8 bytes are the same key.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import session from '../../adapters/express.ts';
import { withSession as fetchSession } from '../../adapters/fetch.ts';
import { session as honoSession } from '../../adapters/hono.ts';
import { withSession } from '../../adapters/node.ts';
import { createMemoryStore, createSessionEngine, createSigner, type MemoryStore, type SessionEvent } from '../../src/index.ts';
import { MAX_CANDIDATES } from '../../src/cookie.ts';
import { committedPair, get, idOfPair, OLD_SECRET, pairOf, SECRET, serveListener, startTargets, type Running, type Target } from './helpers.ts';

const NEW = SECRET;
const OLD = OLD_SECRET;
let store: MemoryStore;
const closers: Array<() => Promise<void>> = [];

beforeAll(() => {
  store = createMemoryStore({ sweepInterval: 0 });
});
afterAll(async () => {
  for (const close of closers.splice(0)) await close();
});
afterEach(() => {
  vi.restoreAllMocks();
});

async function targetsWith(secret: string | string[]): Promise<Target[]> {
  const targets = await startTargets({ store, secret });
  closers.push(() => Promise.all(targets.map((t) => t.close())).then(() => {}));
  return targets;
}

/** A stored session for alice whose cookie is signed with `secret`; returns the `sid=` pair. */
async function aliceUnder(secret: string): Promise<string> {
  const engine = createSessionEngine({ secret, store, idleTimeout: null, absoluteTimeout: null });
  // Over plain HTTP like the test servers: a Secure cookie would not be re-sent there.
  const s = engine.load({ secure: false });
  await s.set('user', 'alice');
  return await committedPair(engine, s);
}

async function node(secret: string | string[]): Promise<Running> {
  const server = await serveListener(
    withSession(async (_req, res, s) => res.end(JSON.stringify({ user: (await s.get('user')) ?? null, isNew: (await s.load()).isNew })), { secret, store, idleTimeout: null, absoluteTimeout: null }),
  );
  closers.push(server.close);
  return server;
}

describe('C. secret rotation', () => {
  it('C1: a cookie signed with the previous secret is accepted and re-signed with the first: same ID, same data', async () => {
    const old = await aliceUnder(OLD);
    const id = idOfPair(old);
    const before = JSON.stringify(await store.get(id));
    for (const t of await targetsWith([NEW, OLD])) {
      const r = await get(t.url, '/whoami', { headers: { cookie: old } });
      expect({ label: t.label, user: r.json.user, isNew: r.json.isNew }).toEqual({ label: t.label, user: 'alice', isNew: false });
      const resigned = pairOf(r.setCookie, 'sid');
      expect(resigned, t.label).toBeDefined();
      expect(idOfPair(resigned!)).toBe(id);
      expect(await createSigner([NEW]).unsign(decodeURIComponent(resigned!.slice(4)).slice(2))).toEqual({ value: id, secretIndex: 0 });
      // Re-signed, it verifies under the new secret alone and is not re-sent again.
      const again = await get(t.url, '/whoami', { headers: { cookie: resigned! } });
      expect({ label: t.label, user: again.json.user, setCookie: again.setCookie }).toEqual({ label: t.label, user: 'alice', setCookie: [] });
    }
    // Re-signing touched the cookie only: the stored data is as it was (timestamps aside).
    const after = (await store.get(id))!;
    const strip = (r: Record<string, unknown>) => ({ ...r, _ws: undefined, cookie: undefined });
    expect(strip(after)).toEqual(strip(JSON.parse(before)));
  });

  it('C2: a cookie signed with a removed secret is anonymous, reported as a fresh session (bad-signature), not as an error', async () => {
    const old = await aliceUnder(OLD);
    for (const t of await targetsWith(NEW)) {
      const r = await get(t.url, '/whoami', { headers: { cookie: old } });
      expect({ label: t.label, status: r.status, user: r.json.user, reason: r.json.reason, setCookie: r.setCookie }).toEqual({ label: t.label, status: 200, user: null, reason: 'bad-signature', setCookie: [] });
    }
    const events: SessionEvent[] = [];
    const engine = createSessionEngine({ secret: NEW, store, onEvent: (e) => events.push(e) });
    await engine.load({ cookie: old, secure: true }).load();
    expect(events).toEqual([{ type: 'create', reason: 'bad-signature' }]);
  });

  it('C3: a rolling deploy rotates in two phases (verify-only second, then first) without logging anyone out', async () => {
    // Phase 0: every instance signs with OLD.
    const cookieJar = { value: await aliceUnder(OLD) };
    const visit = async (server: Running): Promise<void> => {
      const r = await get(server.url, '/', { headers: { cookie: cookieJar.value } });
      expect(r.json).toEqual({ user: 'alice', isNew: false });
      cookieJar.value = pairOf(r.setCookie, 'sid') ?? cookieJar.value;
    };
    // Phase 1: NEW is deployed as verify-only (second) everywhere while B still runs [OLD].
    const a1 = await node([OLD, NEW]);
    const b0 = await node([OLD]);
    for (let i = 0; i < 4; i++) await visit(i % 2 ? a1 : b0);
    // Phase 2: A promotes NEW to signing; B is on phase 1. Each accepts the other's cookies
    // (and re-signs them with its own first secret while both run: documented churn, no logout).
    const a2 = await node([NEW, OLD]);
    const b1 = await node([OLD, NEW]);
    for (let i = 0; i < 6; i++) await visit(i % 2 ? a2 : b1);
    // Phase 2 everywhere, then phase 3 after the longest session lifetime: OLD is dropped.
    const b2 = await node([NEW, OLD]);
    await visit(a2);
    await visit(b2);
    const signedWithNew = await createSigner([NEW]).unsign(decodeURIComponent(cookieJar.value.slice(4)).slice(2));
    expect(signedWithNew).toMatchObject({ secretIndex: 0 });
    await visit(await node([NEW]));
    // A cookie still signed with OLD is anonymous once OLD is gone.
    const stale = await aliceUnder(OLD);
    expect((await get((await node([NEW])).url, '/', { headers: { cookie: stale } })).json).toEqual({ user: null, isNew: true });
  });

  it('C4: an empty secret list throws at construction on every adapter; a short or well-known secret warns once (as express-session accepts it)', async () => {
    // The reference wants short and well-known secrets ("keyboard cat") refused. express-session
    // accepts them (its README uses "keyboard cat"), so the drop-in does too, with a warning.
    for (const secret of [[], '', [''], new Uint8Array(0), [SECRET, '']]) {
      expect(() => createSessionEngine({ secret: secret as never, store })).toThrow(expect.objectContaining({ code: 'ERR_CONFIG' }));
      expect(() => withSession(() => {}, { secret: secret as never })).toThrow(expect.objectContaining({ code: 'ERR_CONFIG' }));
      expect(() => honoSession({ secret: secret as never })).toThrow(expect.objectContaining({ code: 'ERR_CONFIG' }));
      expect(() => fetchSession(async () => new Response(), { secret: secret as never })).toThrow(expect.objectContaining({ code: 'ERR_CONFIG' }));
    }
    vi.spyOn(console, 'warn').mockImplementation(() => {});
    expect(() => session({ secret: [], resave: false, saveUninitialized: false })).toThrow(/secret option array must contain one or more strings/);
    expect(() => session({ secret: '', resave: false, saveUninitialized: false })).toThrow(expect.objectContaining({ code: 'ERR_CONFIG' }));
    const warn = vi.mocked(console.warn);
    warn.mockClear();
    createSessionEngine({ secret: 'keyboard cat', store });
    createSessionEngine({ secret: ['secret', 'keyboard cat'], store });
    const shortWarnings = warn.mock.calls.filter(([m]) => String(m).includes('shorter than 32'));
    expect(shortWarnings.length).toBeLessThanOrEqual(1);
    if (shortWarnings.length === 1) expect(String(shortWarnings[0]![0])).not.toContain('keyboard cat');
  });

  it('C6: with N secrets a forged MAC costs at most N HMAC checks per candidate, MAX_CANDIDATES candidates at most', async () => {
    const secrets = [NEW, OLD, 'a third secret, long enough to be real', 'a fourth secret, long enough as well.'];
    const engine = createSessionEngine({ secret: secrets, store });
    const verify = vi.spyOn(crypto.subtle, 'verify');
    const forged = (i: number) => `sid=${encodeURIComponent(`s:${String(i).padStart(43, 'x')}.${'QUJD'.repeat(10)}QUI`)}`;
    expect((await engine.load({ cookie: forged(0), secure: true }).load()).freshReason).toBe('bad-signature');
    expect(verify).toHaveBeenCalledTimes(secrets.length);
    verify.mockClear();
    const flood = Array.from({ length: 50 }, (_, i) => forged(i)).join('; ');
    await engine.load({ cookie: flood, secure: true }).load();
    expect(verify).toHaveBeenCalledTimes(secrets.length * MAX_CANDIDATES);
  });

  it('C7: a secret given as a string and as its UTF-8 bytes is the same key: cookies move between the two', async () => {
    const bytes = new TextEncoder().encode(NEW);
    const viaString = createSessionEngine({ secret: NEW, store });
    const viaBytes = createSessionEngine({ secret: bytes, store });
    const viaBuffer = createSessionEngine({ secret: [Buffer.from(OLD), Buffer.from(NEW)], store });
    const s = viaString.load({ secure: true });
    await s.set('user', 'alice');
    const pair = await committedPair(viaString, s);
    expect(await (await viaBytes.load({ cookie: pair, secure: true }).load()).get('user')).toBe('alice');
    const t = await viaBuffer.load({ cookie: pair, secure: true }).load();
    expect(await t.get('user')).toBe('alice');
    expect(await createSigner([bytes]).sign('x')).toBe(await createSigner([NEW]).sign('x'));
  });
});
