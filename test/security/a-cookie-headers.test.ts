/**
 * Security reference §3 group A: malformed, oversized and duplicate Cookie headers.
 *
 * Every case runs over real loopback HTTP against the same app on all four adapters (node,
 * Express, Hono on @hono/node-server, websession/fetch on @hono/node-server), sharing one store,
 * with the cookie name the reference uses, `__Host-sid` (Secure; requests say
 * `X-Forwarded-Proto: https` and the apps trust it with `proxy: true`). Headers fetch() will not
 * send (two Cookie lines, raw UTF-8, control bytes) go over a raw socket.
 *
 * Wire format: express-session's `s:<id>.<base64 HMAC, unpadded>`, URL-encoded, not the
 * reference's `v1.<id>.<mac>`. Where that changes an expectation the case says so.
 * Existing unit coverage of the reader is in test/cookie.test.ts (readCookieValues); these
 * cases check the same inputs end to end and add the ones that need a real server.
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { withSession } from '../../adapters/node.ts';
import { createMemoryStore, createSessionEngine, type MemoryStore } from '../../src/index.ts';
import { MAX_CANDIDATES, MAX_COOKIE_HEADER, readCookieValues } from '../../src/cookie.ts';
import { committedPair, cookiePair, fastestPerCall, get, rawRequest, SECRET, startTargets, type Reply, type Target } from './helpers.ts';

const NAME = '__Host-sid';
const HTTPS = { 'x-forwarded-proto': 'https' };
let store: MemoryStore;
let targets: Target[];
/** The URL-encoded cookie value of a stored session whose user is alice, and its raw form. */
let value: string;
let decoded: string;
let pair: string;

beforeAll(async () => {
  store = createMemoryStore({ sweepInterval: 0 });
  targets = await startTargets({ store, name: NAME, secure: true, proxy: true });
  const engine = createSessionEngine({ secret: SECRET, store, name: NAME, cookie: { secure: true }, idleTimeout: null, absoluteTimeout: null });
  const s = engine.load({ secure: true });
  await s.set('user', 'alice');
  pair = await committedPair(engine, s);
  value = pair.slice(NAME.length + 1);
  decoded = decodeURIComponent(value);
});
afterAll(async () => {
  await Promise.all(targets.map((t) => t.close()));
  store.close();
});

/** Sends the Cookie header (or none) to every adapter. */
async function ask(cookie: string | undefined, path = '/whoami'): Promise<Array<[string, Reply]>> {
  return Promise.all(targets.map(async (t) => [t.label, await get(t.url, path, { headers: cookie === undefined ? HTTPS : { ...HTTPS, cookie } })] as [string, Reply]));
}

/** Anonymous: 200, a fresh session with no data, no Set-Cookie. */
function expectAnonymous(replies: Array<[string, Reply]>, reason?: string): void {
  for (const [label, r] of replies) {
    expect({ label, status: r.status, isNew: r.json?.isNew, user: r.json?.user, setCookie: r.setCookie }).toEqual({ label, status: 200, isNew: true, user: null, setCookie: [] });
    if (reason) expect({ label, reason: r.json.reason }).toEqual({ label, reason });
  }
}

function expectAlice(replies: Array<[string, Reply]>): void {
  for (const [label, r] of replies) expect({ label, status: r.status, isNew: r.json?.isNew, user: r.json?.user }).toEqual({ label, status: 200, isNew: false, user: 'alice' });
}

describe('A. malformed, oversized and duplicate Cookie headers', () => {
  it('A1: no Cookie header is an anonymous session: no Set-Cookie and no store write', async () => {
    const set = vi.spyOn(store, 'set');
    expectAnonymous(await ask(undefined), 'absent');
    expect(set).not.toHaveBeenCalled();
    set.mockRestore();
  });

  it('A2: an empty header, ";;;", "=", "==;=" and a lone name without "=" are anonymous and never throw', async () => {
    const set = vi.spyOn(store, 'set');
    for (const header of ['', ';;;', '=', '==;=', NAME, `${NAME};`, `${NAME}=`, ` ; = ; ${NAME}`]) {
      expectAnonymous(await ask(header));
    }
    expect(set).not.toHaveBeenCalled();
    set.mockRestore();
  });

  it('A3: 1,000 pairs (8 KB) parse in well under 1 ms; 16 KB+ gets 431 from Node; past the 32 KB cap the session cookie is ignored', async () => {
    const padded = Array.from({ length: 1000 }, (_, i) => `c${i}=${i}`).join('; ');
    const header = `${padded}; ${pair}`;
    expect(header.length).toBeGreaterThan(8000);
    expectAlice(await ask(header));
    // O(n), no backtracking: the reader's cost on 8 KB headers, and on 30 KB of pathological input.
    const inputs = [header, `${NAME}=x;`.repeat(2_400), `a=${NAME};`.repeat(2_400), `${NAME}`.repeat(3_000), '='.repeat(30_000), ';'.repeat(30_000), `${'%'.repeat(30_000)}${NAME}=1`];
    for (const input of inputs) {
      expect(input.length).toBeLessThanOrEqual(MAX_COOKIE_HEADER);
      // The fastest of 20 batches: a loaded machine only ever adds time, backtracking would multiply it.
      const perCall = fastestPerCall(() => readCookieValues(input, NAME));
      expect(perCall, `${input.slice(0, 20)}… (${input.length} chars)`).toBeLessThan(input === header ? 1 : 5);
    }
    // Node refuses headers over its 16 KB default before any middleware runs.
    for (const t of targets) {
      const big = await rawRequest(t.port, '/whoami', ['X-Forwarded-Proto: https', `Cookie: ${pair}; pad=${'x'.repeat(17_000)}`]);
      expect({ label: t.label, status: big.status }).toEqual({ label: t.label, status: 431 });
      expectAlice([[t.label, await get(t.url, '/whoami', { headers: { ...HTTPS, cookie: pair } })]]);
    }
    // A host that accepts bigger headers: past MAX_COOKIE_HEADER nothing is searched, even a session cookie in front.
    const server = createServer({ maxHeaderSize: 128 * 1024 }, withSession(async (_req, res, s) => res.end(JSON.stringify({ user: (await s.get('user')) ?? null })), { secret: SECRET, store, name: NAME, cookie: { secure: true }, proxy: true }));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
      const under = `${pair}; pad=${'x'.repeat(MAX_COOKIE_HEADER - pair.length - 6)}`;
      expect(under.length).toBe(MAX_COOKIE_HEADER);
      expect((await get(url, '/', { headers: { ...HTTPS, cookie: under } })).json).toEqual({ user: 'alice' });
      expect((await get(url, '/', { headers: { ...HTTPS, cookie: `${under}x` } })).json).toEqual({ user: null });
    } finally {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
  });

  it('A4: with duplicate session cookies the first that verifies and loads wins; values are never joined; at most MAX_CANDIDATES are tried', async () => {
    // Documented policy (README, Security): the first duplicate that verifies and is found in the
    // store wins. There is no "strict" mode that refuses duplicates; __Host- blocks tossing at the
    // source and regenerate() at login defeats fixation (J2).
    const engine = createSessionEngine({ secret: SECRET, store, name: NAME, cookie: { secure: true }, idleTimeout: null, absoluteTimeout: null });
    const bob = engine.load({ secure: true });
    await bob.set('user', 'bob');
    const bobPair = await committedPair(engine, bob);
    const forged = `${NAME}=${encodeURIComponent(`s:${'A'.repeat(43)}.${'B'.repeat(43)}`)}`;
    const unknown = await cookiePair(NAME, 'signed-but-not-in-the-store');
    expectAlice(await ask(`${forged}; ${pair}`));
    expectAlice(await ask(`${unknown}; other=1; ${pair}; ${bobPair}`));
    for (const [, r] of await ask(`${bobPair}; ${pair}`)) expect(r.json.user).toBe('bob');
    // Never concatenated or returned as an array: the reader hands back separate values.
    expect(readCookieValues(`${pair}; ${bobPair}`, NAME)).toEqual([decoded, decodeURIComponent(bobPair.slice(NAME.length + 1))]);
    // A valid cookie behind MAX_CANDIDATES forged duplicates is not reached: duplicates cannot multiply HMAC work.
    const flood = Array.from({ length: MAX_CANDIDATES }, () => forged).join('; ');
    expectAnonymous(await ask(`${flood}; ${pair}`), 'bad-signature');
  });

  it('A5: two Cookie lines are joined (with "; " by node:http, with "; " or ", " by Fetch Headers) and the session in the second line is found', async () => {
    for (const t of targets) {
      const r = await rawRequest(t.port, '/whoami', ['X-Forwarded-Proto: https', 'Cookie: theme=dark; lang=en', `Cookie: ${pair}`]);
      expect({ label: t.label, status: r.status, body: JSON.parse(r.body) }).toMatchObject({ label: t.label, status: 200, body: { isNew: false, user: 'alice' } });
    }
    // A Fetch Request built by this runtime from two cookie values (what a fetch-handler host hands over).
    const headers = new Headers({ 'x-forwarded-proto': 'https' });
    headers.append('cookie', 'theme=dark');
    headers.append('cookie', pair);
    const engine = createSessionEngine({ secret: SECRET, store, name: NAME, cookie: { secure: true }, proxy: true });
    const s = await engine.load(new Request('https://app.test/', { headers })).load();
    // Node (undici) and Bun join Cookie values with "; "; Deno follows the Fetch spec literally and
    // joins them with ", ". The session in the second value is found either way.
    expect([`theme=dark; ${pair}`, `theme=dark, ${pair}`]).toContain(headers.get('cookie'));
    expect(s.isNew).toBe(false);
    expect(await s.get('user')).toBe('alice');
  });

  it('A6: a nameless cookie "=__Host-sid=<valid>" is not read as the session cookie', async () => {
    expectAnonymous(await ask(`=${pair}`), 'absent');
    expectAnonymous(await ask(`=${pair}; a=1`), 'absent');
  });

  it('A7: a name led by U+00A0, U+2000 or U+0085 does not match; only SP and HTAB are trimmed', async () => {
    expectAnonymous(await ask(`\u00A0${pair}`), 'absent');
    expectAnonymous(await ask(`a=1;\u00A0${pair}`), 'absent');
    expectAnonymous(await ask(`\u0085${pair}`), 'absent');
    for (const t of targets) {
      // U+2000 as its UTF-8 bytes over a raw socket (fetch() refuses non-Latin-1 header values).
      const r = await rawRequest(t.port, '/whoami', ['X-Forwarded-Proto: https', Buffer.concat([Buffer.from('Cookie: '), Buffer.from('\u2000', 'utf8'), Buffer.from(pair)])]);
      expect({ label: t.label, status: r.status, body: JSON.parse(r.body) }).toMatchObject({ label: t.label, status: 200, body: { isNew: true, user: null } });
    }
    // A runtime that decodes header bytes as UTF-8 would hand the engine the real characters.
    const engine = createSessionEngine({ secret: SECRET, store, name: NAME, cookie: { secure: true } });
    for (const lead of ['\u00A0', '\u2000', '\u0085', '\u3000', '\uFEFF', '\u200B']) {
      expect((await engine.load({ cookie: `${lead}${pair}`, secure: true }).load()).freshReason).toBe('absent');
    }
    for (const lead of [' ', '\t', ' \t ']) {
      expect((await engine.load({ cookie: `a=1;${lead}${pair}`, secure: true }).load()).isNew).toBe(false);
    }
  });

  it('A8: a percent-encoded name "%5F%5FHost-sid" does not match; names are never decoded', async () => {
    expectAnonymous(await ask(`%5F%5FHost-sid=${value}`), 'absent');
    expectAnonymous(await ask(`${encodeURIComponent(NAME).replace('_', '%5F')}=${value}`), 'absent');
  });

  it('A9: "__host-sid" and "__HOST-SID" do not match; names compare exactly', async () => {
    expectAnonymous(await ask(`__host-sid=${value}`), 'absent');
    expectAnonymous(await ask(`__HOST-SID=${value}`), 'absent');
    expectAnonymous(await ask(`__Host-Sid=${value}; __host-sid=${value}`), 'absent');
  });

  it('A10: a double-quoted value is accepted as express-session accepts it; "$Version=1" is an ordinary cookie', async () => {
    // The reference expects a quoted value to be rejected. express-session (through the cookie
    // package) strips the quotes, and the Express adapter must stay a drop-in, so every adapter
    // unquotes: the value inside the quotes must still verify, so nothing is gained by quoting.
    expectAlice(await ask(`${NAME}="${value}"`));
    expectAnonymous(await ask(`${NAME}="${value}x"`), 'bad-signature');
    expectAnonymous(await ask(`${NAME}="${value}`), 'bad-signature');
    // No RFC 2109 semantics: $Version is just another cookie and changes nothing.
    expectAlice(await ask(`$Version=1; ${pair}`));
    expectAlice(await ask(`$Version="1"; ${pair}; $Path="/"`));
    expectAnonymous(await ask(`$Version=1; $${pair}`), 'absent');
  });

  it('A11: a value changed by "%", "+", "/", "=" or whitespace is rejected; it is percent-decoded once, never twice', async () => {
    // The reference wants the raw value to be canonical base64url and never URL-decoded. Our
    // value is express-session's: `s:` + id + "." + standard base64 (which contains + and /),
    // URL-encoded by the serializer and decoded once by the reader, exactly as express-session
    // does. So the decoded and the raw form are the same cookie (accepted); any change is not.
    expectAlice(await ask(`${NAME}=${decoded}`));
    const dot = decoded.lastIndexOf('.');
    // A character of the signature replaced by "/" (by "+" when it already is "/": the signature is
    // random, and replacing "/" by "/" would leave the cookie unchanged, once in 64 runs).
    const swapped = decoded[dot + 5] === '/' ? '+' : '/';
    const variants = [
      `${decoded}=`,
      `${decoded}==`,
      `${decoded}%`,
      `${decoded.slice(0, dot + 5)} ${decoded.slice(dot + 6)}`,
      `${decoded.slice(0, dot + 5)}+${decoded.slice(dot + 5)}`,
      `${decoded.slice(0, dot + 5)}${swapped}${decoded.slice(dot + 6)}`,
      `s:+${decoded.slice(3)}`,
      `s:${decoded.slice(2, 6)}%2F${decoded.slice(6)}`,
    ];
    for (const v of variants) {
      expect(v).not.toBe(decoded);
      expectAnonymous(await ask(`${NAME}=${encodeURIComponent(v)}`), 'bad-signature');
    }
    // Double-encoded: decoded once it is "s%3A…", which is not a signed value.
    expectAnonymous(await ask(`${NAME}=${encodeURIComponent(value)}`), 'bad-signature');
  });

  it('A12: other cookies named __proto__, constructor, hasOwnProperty, toString neither throw nor pollute, and the session is found', async () => {
    const before = Object.getOwnPropertyNames(Object.prototype).sort();
    const header = `__proto__=%7B%22isAdmin%22%3Atrue%7D; constructor=x; hasOwnProperty=1; toString=y; valueOf=z; ${pair}; __defineGetter__=q`;
    expectAlice(await ask(header));
    expectAnonymous(await ask('__proto__=1; constructor=2; hasOwnProperty=3; toString=4'), 'absent');
    expect(Object.getOwnPropertyNames(Object.prototype).sort()).toEqual(before);
    expect(({} as Record<string, unknown>).isAdmin).toBeUndefined();
    expect(typeof Object.prototype.hasOwnProperty).toBe('function');
  });

  it('A13: raw UTF-8 and Latin-1 bytes and bad percent-escapes in other cookies neither throw nor hide the session', async () => {
    expectAlice(await ask(`a=%E0%A4%A; b=%; c=%zz; d=%FF%FE; ${pair}; e=%C0%AF`));
    for (const t of targets) {
      const line = Buffer.concat([Buffer.from('Cookie: u='), Buffer.from('ünïcødé ☃ 𝄞', 'utf8'), Buffer.from('; l='), Buffer.from([0xe9, 0xff, 0xa0]), Buffer.from(`; ${pair}`)]);
      const r = await rawRequest(t.port, '/whoami', ['X-Forwarded-Proto: https', line]);
      expect({ label: t.label, status: r.status, body: JSON.parse(r.body) }).toMatchObject({ label: t.label, status: 200, body: { isNew: false, user: 'alice' } });
    }
  });

  it('A14: NUL, DEL, TAB or CR inside the session value is rejected (anonymous), or refused by the HTTP parser', async () => {
    const dot = decoded.lastIndexOf('.');
    for (const c of ['\0', '\x7f', '\t', '\r', '\n']) {
      const tampered = `${decoded.slice(0, dot + 3)}${c}${decoded.slice(dot + 3)}`;
      // Percent-encoded, so the bytes reach the engine inside the value.
      expectAnonymous(await ask(`${NAME}=${encodeURIComponent(tampered)}`), 'bad-signature');
      // As given to the engine by a host that passed the raw character through.
      const engine = createSessionEngine({ secret: SECRET, store, name: NAME, cookie: { secure: true } });
      expect((await engine.load({ cookie: `${NAME}=${tampered}`, secure: true }).load()).isNew).toBe(true);
    }
    for (const t of targets) {
      // A raw TAB is legal in a header line: the value carries it and fails verification.
      const tab = await rawRequest(t.port, '/whoami', ['X-Forwarded-Proto: https', `Cookie: ${NAME}=${value.slice(0, 20)}\t${value.slice(20)}`]);
      expect({ label: t.label, status: tab.status, isNew: JSON.parse(tab.body).isNew }).toEqual({ label: t.label, status: 200, isNew: true });
      // Raw NUL / CR / DEL: the HTTP parser refuses the request (400) before any session code, or
      // the value reaches the engine and fails verification. Either way no session and no crash.
      for (const byte of [0x00, 0x0d, 0x7f]) {
        const line = Buffer.concat([Buffer.from(`Cookie: ${NAME}=${value.slice(0, 20)}`), Buffer.from([byte]), Buffer.from(value.slice(20))]);
        const r = await rawRequest(t.port, '/whoami', ['X-Forwarded-Proto: https', line]);
        const ok = r.status === 400 || (r.status === 200 && JSON.parse(r.body).isNew === true);
        expect({ label: t.label, byte, status: r.status, ok }).toMatchObject({ label: t.label, byte, ok: true });
      }
      expectAlice([[t.label, await get(t.url, '/whoami', { headers: { ...HTTPS, cookie: pair } })]]);
    }
  });
});
