import { afterEach, describe, expect, it, vi } from 'vitest';
import { SessionError } from '../src/errors.ts';
import { CORE_DEFAULTS, resolveOptions, type SessionOptions } from '../src/options.ts';
import { createSessionEngine } from '../src/engine.ts';
import { createMemoryStore } from '../src/stores/memory.ts';

const SECRET = 'k'.repeat(32);
const store = createMemoryStore({ sweepInterval: 0 });

function base(overrides: Record<string, unknown> = {}): SessionOptions {
  return { secret: SECRET, store, ...overrides } as SessionOptions;
}

/** Runs `fn`, expecting a SessionError ERR_CONFIG whose message names `option`. */
function expectConfigError(fn: () => unknown, option: string): SessionError {
  let caught: unknown;
  try {
    fn();
  } catch (err) {
    caught = err;
  }
  expect(caught).toBeInstanceOf(SessionError);
  const error = caught as SessionError;
  expect(error.code).toBe('ERR_CONFIG');
  expect(error.message).toContain(`option ${option} `);
  return error;
}

afterEach(() => {
  vi.restoreAllMocks();
});

describe('resolveOptions', () => {
  it('applies the core defaults', () => {
    const resolved = resolveOptions(base());
    expect(resolved).toMatchObject({
      secrets: [SECRET],
      name: 'sid',
      cookie: { path: '/', httpOnly: true, secure: 'auto', sameSite: 'lax', partitioned: false, maxAge: null, expires: null },
      rolling: false,
      resave: false,
      saveUninitialized: false,
      idleTimeout: 1_800_000,
      absoluteTimeout: 43_200_000,
      fallbackTtl: 86_400_000,
      storeTimeout: 5000,
      onStoreError: 'fail',
      resendOnCookieChange: true,
    });
  });

  it('applies express-session-like defaults passed by an adapter', () => {
    const resolved = resolveOptions(base(), {
      name: 'connect.sid',
      cookie: { path: '/', httpOnly: true, secure: false },
      idleTimeout: null,
      absoluteTimeout: null,
      resendOnCookieChange: false,
    });
    expect(resolved.name).toBe('connect.sid');
    expect(resolved.cookie.secure).toBe(false);
    expect(resolved.cookie.sameSite).toBe(false);
    expect(resolved.idleTimeout).toBeUndefined();
    expect(resolved.absoluteTimeout).toBeUndefined();
    expect(resolved.resendOnCookieChange).toBe(false);
  });

  it('does not let the user options change CORE_DEFAULTS', () => {
    const before = JSON.stringify(CORE_DEFAULTS);
    resolveOptions(base({ name: 'other', cookie: { path: '/x', secure: true, maxAge: 5 } }));
    expect(JSON.stringify(CORE_DEFAULTS)).toBe(before);
  });

  it('lets maxAge win over expires, as documented', () => {
    const resolved = resolveOptions(base({ cookie: { maxAge: 1000, expires: new Date(Date.UTC(2040, 0, 1)) } }));
    expect(resolved.cookie.maxAge).toBe(1000);
    expect(resolved.cookie.expires).toBeNull();
  });

  it('turns null timeouts off', () => {
    const resolved = resolveOptions(base({ idleTimeout: null, absoluteTimeout: null }));
    expect(resolved.idleTimeout).toBeUndefined();
    expect(resolved.absoluteTimeout).toBeUndefined();
  });

  it('accepts byte secrets and arrays of mixed secrets', () => {
    const bytes = new Uint8Array(32).fill(7);
    expect(resolveOptions(base({ secret: [SECRET, bytes] })).secrets).toEqual([SECRET, bytes]);
  });

  it.each([
    ['the options object', null, 'options'],
    ['a missing secret', { store }, 'secret'],
    ['a null secret', { secret: null, store }, 'secret'],
    ['an empty secret array', { secret: [], store }, 'secret'],
    ['an empty secret string', { secret: '', store }, 'secret'],
    ['an empty string inside the secret array', { secret: [SECRET, ''], store }, 'secret[1]'],
    ['a number secret', { secret: 42, store }, 'secret'],
    ['an object secret', { secret: { key: SECRET }, store }, 'secret'],
    ['an empty byte secret', { secret: new Uint8Array(0), store }, 'secret'],
    ['a missing store', { secret: SECRET }, 'store'],
    ['a store without destroy', { secret: SECRET, store: { get: async () => undefined, set: async () => {} } }, 'store'],
  ])('rejects %s', (_label, options, option) => {
    expectConfigError(() => resolveOptions(options as unknown as SessionOptions), option);
  });

  it.each([
    ['an empty name', ''],
    ['a name with a space', 'my sid'],
    ['a name with a semicolon', 'sid;Path=/'],
    ['a name with an equals sign', 'a=b'],
    ['a name with a comma-free control character', 'sid\n'],
    ['a name with non-ASCII', 'sïd'],
    ['a non-string name', 42],
  ])('rejects %s', (_label, name) => {
    expectConfigError(() => resolveOptions(base({ name })), 'name');
  });

  it.each([
    ['domain', 'example.com;Secure'],
    ['domain', 'example.com\r\nSet-Cookie: x=1'],
    ['domain', 'example.com\n'],
    ['domain', 'exa mple.com'],
    ['domain', 42],
    ['path', '/;Domain=evil.test'],
    ['path', '/\r\nX: y'],
    ['path', '/\n'],
    ['path', '/\0'],
  ])('rejects cookie.%s %j', (key, value) => {
    expectConfigError(() => resolveOptions(base({ cookie: { [key]: value } })), `cookie.${key}`);
  });

  it.each([
    ['cookie', 'strict', 'cookie'],
    ['cookie', null, 'cookie'],
    ['cookie.sameSite', { sameSite: 'Lax ' }, 'cookie.sameSite'],
    ['cookie.sameSite', { sameSite: 'None' }, 'cookie.sameSite'],
    ['cookie.sameSite', { sameSite: 1 }, 'cookie.sameSite'],
    ['cookie.priority', { priority: 'urgent' }, 'cookie.priority'],
    ['cookie.priority', { priority: 'HIGH' }, 'cookie.priority'],
    ['cookie.secure', { secure: 'yes' }, 'cookie.secure'],
    ['cookie.secure', { secure: 1 }, 'cookie.secure'],
    ['cookie.maxAge', { maxAge: '60000' }, 'cookie.maxAge'],
    ['cookie.maxAge', { maxAge: Number.NaN }, 'cookie.maxAge'],
    ['cookie.maxAge', { maxAge: Number.POSITIVE_INFINITY }, 'cookie.maxAge'],
    ['cookie.maxAge', { maxAge: 1e300 }, 'cookie.maxAge'],
    ['cookie.maxAge', { maxAge: new Date() }, 'cookie.maxAge'],
    ['cookie.expires', { expires: new Date(Number.NaN) }, 'cookie.expires'],
    ['cookie.expires', { expires: '2030-01-01' }, 'cookie.expires'],
    ['cookie.expires', { expires: 1893456000000 }, 'cookie.expires'],
  ])('rejects a bad %s at runtime: %o', (_label, cookie, option) => {
    expectConfigError(() => resolveOptions(base({ cookie })), option);
  });

  it.each([
    [{ sameSite: 'none', secure: false }, 'cookie.sameSite'],
    [{ partitioned: true, secure: false }, 'cookie.partitioned'],
  ])('rejects %j because browsers drop it without Secure', (cookie, option) => {
    expectConfigError(() => resolveOptions(base({ cookie })), option);
  });

  it.each([
    [{ sameSite: 'none', secure: true }],
    [{ sameSite: 'none', secure: 'auto' }],
    [{ partitioned: true, secure: true }],
    [{ partitioned: true, secure: 'auto' }],
  ])('accepts %j', (cookie) => {
    expect(() => resolveOptions(base({ cookie }))).not.toThrow();
  });

  it.each([
    ['__Secure-sid', { secure: false }, 'cookie.secure'],
    ['__Secure-sid', { secure: 'auto' }, 'cookie.secure'],
    ['__Host-sid', { secure: false }, 'cookie.secure'],
    ['__Host-sid', { secure: 'auto' }, 'cookie.secure'],
    ['__Host-sid', { secure: true, domain: 'example.com' }, 'cookie.domain'],
    ['__Host-sid', { secure: true, path: '/app' }, 'cookie.path'],
  ])('enforces the prefix rules of %s (%j)', (name, cookie, option) => {
    expectConfigError(() => resolveOptions(base({ name, cookie })), option);
  });

  it.each([
    ['__Secure-sid', { secure: true, domain: 'example.com', path: '/app' }],
    ['__Host-sid', { secure: true }],
    ['__Host-sid', { secure: true, path: '/' }],
  ])('accepts %s with %j', (name, cookie) => {
    expect(() => resolveOptions(base({ name, cookie }))).not.toThrow();
  });

  it.each(['idleTimeout', 'absoluteTimeout', 'fallbackTtl'])('rejects a bad %s', (option) => {
    for (const value of [0, -1, Number.NaN, Number.POSITIVE_INFINITY, '1000', true]) {
      expectConfigError(() => resolveOptions(base({ [option]: value })), option);
    }
  });

  it.each([
    ['genid', 'not a function'],
    ['proxy', 'true'],
    ['proxy', 1],
    ['onStoreError', 'ignore'],
    ['storeTimeout', -1],
    ['storeTimeout', Number.NaN],
    ['storeTimeout', '100'],
    ['hmac', 'sha256'],
  ])('rejects %s %j', (option, value) => {
    expectConfigError(() => resolveOptions(base({ [option]: value })), option);
  });

  it('throws the same ERR_CONFIG from createSessionEngine', () => {
    expectConfigError(() => createSessionEngine(base({ cookie: { sameSite: 'bogus' } })), 'cookie.sameSite');
  });
});

describe('short-secret warning', () => {
  it('is printed once per process however many short secrets are configured', async () => {
    vi.resetModules();
    const fresh = await import('../src/options.ts');
    const warn = vi.spyOn(console, 'warn').mockImplementation(() => {});
    fresh.resolveOptions(base({ secret: 'short' }));
    fresh.resolveOptions(base({ secret: ['also short', 'tiny'] }));
    fresh.resolveOptions(base({ secret: 'x'.repeat(31) }));
    expect(warn).toHaveBeenCalledTimes(1);
    expect(String(warn.mock.calls[0]![0])).toContain('secret');
    expect(String(warn.mock.calls[0]![0])).toContain('32');
  });

  it('is not printed for secrets of 32 characters or more, or for byte secrets', async () => {
    vi.resetModules();
    const fresh = await import('../src/options.ts');
    const warn = vi.spyOn(console, 'warn').mockImplementation(() => {});
    fresh.resolveOptions(base({ secret: 'x'.repeat(32) }));
    fresh.resolveOptions(base({ secret: ['y'.repeat(64), new Uint8Array(32)] }));
    expect(warn).not.toHaveBeenCalled();
  });

  it('names the offending array entry', async () => {
    vi.resetModules();
    const fresh = await import('../src/options.ts');
    const warn = vi.spyOn(console, 'warn').mockImplementation(() => {});
    fresh.resolveOptions(base({ secret: ['y'.repeat(64), 'short'] }));
    expect(warn).toHaveBeenCalledTimes(1);
    expect(String(warn.mock.calls[0]![0])).toContain('secret[1]');
  });
});
