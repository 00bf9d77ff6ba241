import { describe, expect, it } from 'vitest';
import { parseSetCookie } from 'cookie';
import { MAX_CANDIDATES, MAX_COOKIE_HEADER, decodeCookieValue, readCookieValues, serializeClearCookie, serializeCookie } from '../src/cookie.ts';

const VALID = 's:abc.BpxCrWRpvZMh/wk/djl34N+m+VQEU7K/5WenLwJCgFU';
const ENCODED = encodeURIComponent(VALID);

describe('readCookieValues', () => {
  it.each([
    ['undefined', undefined],
    ['null', null],
    ['an empty header', ''],
    ['only separators', ';;;'],
    ['a lone equals sign', '='],
    ['equals signs only', '==;='],
    ['the name without a value or equals sign', 'sid'],
    ['the name followed by a semicolon', 'sid;'],
    ['a nameless cookie whose value looks like the session cookie', `=sid=${ENCODED}`],
    ['the name percent-encoded', `%73id=${ENCODED}`],
    ['the name in upper case', `SID=${ENCODED}`],
    ['the name with a NBSP before it', `\u00A0sid=${ENCODED}`],
    ['the name with an EN QUAD before it', `\u2000sid=${ENCODED}`],
    ['the name with NEL before it', `\u0085sid=${ENCODED}`],
    ['the name as a suffix of another name', `xsid=${ENCODED}`],
    ['the name as a prefix of another name', `sidx=${ENCODED}`],
    ['the name inside another value', `other=sid`],
  ])('finds nothing in %s', (_label, header) => {
    expect(readCookieValues(header, 'sid')).toEqual([]);
  });

  it.each([
    ['the only cookie', `sid=${ENCODED}`, [VALID]],
    ['among others', `a=1; sid=${ENCODED}; b=2`, [VALID]],
    ['after a cookie whose name ends with the name', `xsid=1; sid=${ENCODED}`, [VALID]],
    ['after a cookie whose value is the name', `a=sid; sid=${ENCODED}`, [VALID]],
    ['surrounded by spaces and tabs', `a=1;\t sid = ${ENCODED} \t;b=2`, [VALID]],
    ['not percent-encoded', `sid=${VALID}`, [VALID]],
    ['in double quotes', `sid="${ENCODED}"`, [VALID]],
    ['in double quotes among duplicates', `sid="a"; sid=b`, ['a', 'b']],
    ['with a value that contains the name', 'sid=sid', ['sid']],
    ['empty', 'sid=', ['']],
  ])('reads the value when the cookie is %s', (_label, header, expected) => {
    expect(readCookieValues(header, 'sid')).toEqual(expected);
  });

  it.each([
    ['the second line', `theme=dark, sid=${ENCODED}`, [VALID]],
    ['the first line', `sid=${ENCODED}, theme=dark`, [VALID]],
    ['the middle line of three, after pairs of its own', `a=1; b=2, sid=${ENCODED}; c=3, d=4`, [VALID]],
    ['both lines', 'sid=first, sid=second', ['first', 'second']],
  ])('reads the value from Cookie lines that Fetch Headers joined with ", ": on %s', (_label, header, expected) => {
    expect(readCookieValues(header, 'sid')).toEqual(expected);
  });

  it('compares names exactly, so a differently-cased cookie is a different cookie', () => {
    expect(readCookieValues(`Sid=upper; sid=lower`, 'Sid')).toEqual(['upper']);
    expect(readCookieValues(`Sid=upper; sid=lower`, 'sid')).toEqual(['lower']);
  });

  it('reads prefixed names such as __Host-sid', () => {
    expect(readCookieValues(`__host-sid=x; __Host-sid=${ENCODED}`, '__Host-sid')).toEqual([VALID]);
  });

  it.each([
    ['a truncated escape', 'sid=%E0%A4%A', '%E0%A4%A'],
    ['a lone percent sign', 'sid=%', '%'],
    ['an invalid UTF-8 sequence', 'sid=%FF%FE', '%FF%FE'],
    ['a percent sign followed by junk', 'sid=%zz', '%zz'],
  ])('returns the raw value for %s and never throws', (_label, header, raw) => {
    expect(readCookieValues(header, 'sid')).toEqual([raw]);
  });

  it('still finds the session cookie when other cookies have bad escapes or raw bytes', () => {
    const header = `a=%E0%A4%A; b=\u00e9\u00ff; c="%"; sid=${ENCODED}; d=%`;
    expect(readCookieValues(header, 'sid')).toEqual([VALID]);
  });

  it('returns duplicates in header order', () => {
    expect(readCookieValues('sid=first; other=x; sid=second; sid=third', 'sid')).toEqual(['first', 'second', 'third']);
  });

  it('returns at most MAX_CANDIDATES duplicates, the first ones', () => {
    const header = Array.from({ length: 50 }, (_, i) => `sid=v${i}`).join('; ');
    expect(MAX_CANDIDATES).toBeGreaterThanOrEqual(2);
    expect(readCookieValues(header, 'sid')).toEqual(Array.from({ length: MAX_CANDIDATES }, (_, i) => `v${i}`));
  });

  it('ignores a header longer than MAX_COOKIE_HEADER even when the session cookie comes first', () => {
    const header = `sid=${ENCODED}; pad=${'x'.repeat(MAX_COOKIE_HEADER)}`;
    expect(header.length).toBeGreaterThan(MAX_COOKIE_HEADER);
    expect(readCookieValues(header, 'sid')).toEqual([]);
  });

  it('reads a header of exactly MAX_COOKIE_HEADER characters', () => {
    const prefix = `sid=${ENCODED}; pad=`;
    const header = prefix + 'x'.repeat(MAX_COOKIE_HEADER - prefix.length);
    expect(header.length).toBe(MAX_COOKIE_HEADER);
    expect(readCookieValues(header, 'sid')).toEqual([VALID]);
  });

  it('is harmless with other cookies named after Object.prototype members', () => {
    const before = Object.getOwnPropertyNames(Object.prototype).sort();
    const header = `__proto__=%7B%22polluted%22%3A1%7D; constructor=x; hasOwnProperty=y; toString=z; sid=${ENCODED}`;
    expect(readCookieValues(header, 'sid')).toEqual([VALID]);
    expect(readCookieValues(header, 'constructor')).toEqual(['x']);
    expect(readCookieValues(header, 'hasOwnProperty')).toEqual(['y']);
    expect(readCookieValues('a=1', 'constructor')).toEqual([]);
    expect(readCookieValues('a=1', 'toString')).toEqual([]);
    expect(readCookieValues('a=1', '__proto__')).toEqual([]);
    expect(Object.getOwnPropertyNames(Object.prototype).sort()).toEqual(before);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });

  it('parses a header of 1,000 pairs with the cookie last', () => {
    const header = Array.from({ length: 1000 }, (_, i) => `c${i}=${i}`).join('; ') + `; sid=${ENCODED}`;
    expect(header.length).toBeLessThan(MAX_COOKIE_HEADER);
    expect(readCookieValues(header, 'sid')).toEqual([VALID]);
  });
});

describe('decodeCookieValue', () => {
  /** The `cookie` package's own rule: decodeURIComponent, or the value as it is when malformed. */
  const reference = (value: string): string => {
    try {
      return decodeURIComponent(value);
    } catch {
      return value;
    }
  };

  it.each([
    ['a value without escapes', 'abc.def'],
    ['a signed session value as express-session writes it', ENCODED],
    ['lower-case hex digits', 's%3aabc%2bdef%2f'],
    ['an escape at the very end', 'abc%2F'],
    ['escapes side by side', '%25%25%41'],
    ['an escaped percent sign followed by hex digits', '%2541'],
    ['a two-byte UTF-8 character', 'caf%C3%A9'],
    ['a three-byte UTF-8 character after ASCII escapes', '%3A%E2%82%AC'],
    ['a lone percent sign', 'abc%'],
    ['a percent sign with one hex digit', 'abc%4'],
    ['a percent sign with non-hex digits', '%G1abc'],
    ['a truncated UTF-8 sequence', '%C3'],
    ['an escaped NUL', 'a%00b'],
  ])('decodes %s exactly as decodeURIComponent, keeping malformed values as they are', (_label, value) => {
    expect(decodeCookieValue(value)).toBe(reference(value));
  });

  it('agrees with decodeURIComponent on 5,000 random percent-encoded values', () => {
    const alphabet = ['%', '2', 'F', 'f', 'A', '3', 'C', '9', 'E', '8', 'g', '.', 's', ':', '0', '7'];
    let seed = 7;
    const next = (n: number): number => {
      seed = (seed * 1103515245 + 12345) % 2147483648;
      return seed % n;
    };
    for (let i = 0; i < 5000; i++) {
      let value = '';
      for (let j = next(12); j >= 0; j--) value += alphabet[next(alphabet.length)];
      expect(decodeCookieValue(value), value).toBe(reference(value));
    }
  });

  it('is what reads the session cookie, so an encoded signed value comes back as signed', () => {
    expect(readCookieValues(`theme=dark; sid=${ENCODED}`, 'sid')).toEqual([VALID]);
    expect(readCookieValues(`sid=${ENCODED}; sid=${encodeURIComponent('s:x.y')}`, 'sid')).toEqual([VALID, 's:x.y']);
  });
});

describe('serializeCookie', () => {
  const now = Date.UTC(2030, 0, 1, 0, 0, 0);

  it('writes the express-session default cookie for a browser-session cookie', () => {
    expect(serializeCookie('connect.sid', VALID, { path: '/', httpOnly: true }, now)).toBe(
      'connect.sid=s%3Aabc.BpxCrWRpvZMh%2Fwk%2Fdjl34N%2Bm%2BVQEU7K%2F5WenLwJCgFU; Path=/; HttpOnly',
    );
  });

  it('writes every attribute', () => {
    const expires = new Date(now + 3_600_000);
    expect(
      serializeCookie(
        'sid',
        'v',
        { expires, domain: 'example.com', path: '/app', httpOnly: true, secure: true, partitioned: true, priority: 'high', sameSite: 'lax' },
        now,
      ),
    ).toBe('sid=v; Max-Age=3600; Domain=example.com; Path=/app; Expires=Tue, 01 Jan 2030 01:00:00 GMT; HttpOnly; Secure; Partitioned; Priority=High; SameSite=Lax');
  });

  it('writes an expiry before 1970 as the epoch with Max-Age=0, and caps one past year 9999, so Expires stays an HTTP-date', () => {
    // A stored record with an absurd negative maxAge once gave "Expires=Fri, 31 Dec -0001 23:59:59 GMT" (fuzz, Bun).
    expect(serializeCookie('sid', 'v', { expires: new Date(now - 63_962_983_636_377) }, now)).toBe('sid=v; Max-Age=0; Expires=Thu, 01 Jan 1970 00:00:00 GMT');
    expect(serializeCookie('sid', 'v', { expires: new Date(Date.UTC(20000, 0, 1)) }, now)).toMatch(/; Expires=Fri, 31 Dec 9999 23:59:59 GMT$/);
  });

  it.each([
    [true, 'SameSite=Strict'],
    ['strict', 'SameSite=Strict'],
    ['lax', 'SameSite=Lax'],
    ['none', 'SameSite=None'],
  ] as const)('writes sameSite %j as %s', (sameSite, attribute) => {
    expect(serializeCookie('sid', 'v', { sameSite, secure: true }, now)).toContain(`; ${attribute}`);
  });

  it.each([
    ['httpOnly', { httpOnly: false }, 'HttpOnly'],
    ['secure', { secure: false }, 'Secure'],
    ['sameSite', { sameSite: false }, 'SameSite'],
    ['partitioned', { partitioned: false }, 'Partitioned'],
    ['domain', { domain: undefined }, 'Domain'],
    ['expires', { expires: null }, 'Expires'],
    ['expires (Max-Age)', { expires: null }, 'Max-Age'],
  ] as const)('omits %s when it is off', (_label, attrs, attribute) => {
    expect(serializeCookie('sid', 'v', attrs, now)).not.toContain(attribute);
  });

  it.each([1_000, 60_000, 86_400_000, 3e9, 1_500, 999])('gives Max-Age that agrees with Expires for a lifetime of %i ms', (ms) => {
    const start = now + 123;
    const header = serializeCookie('sid', 'v', { expires: new Date(start + ms) }, start);
    const parsed = parseSetCookie(header);
    expect(parsed.maxAge).toBe(Math.floor(ms / 1000));
    // Expires has whole-second precision; the two deadlines may differ by less than a second.
    const byMaxAge = start + parsed.maxAge! * 1000;
    expect(Math.abs(parsed.expires!.getTime() - byMaxAge)).toBeLessThan(1000);
  });

  it('never writes a negative Max-Age for an expiry in the past', () => {
    const header = serializeCookie('sid', 'v', { expires: new Date(now - 5000) }, now);
    expect(header).toContain('Max-Age=0;');
    expect(header).toContain('Expires=Mon, 31 Dec 2029 23:59:55 GMT');
  });

  it('percent-encodes characters the cookie grammar forbids in the value', () => {
    expect(serializeCookie('sid', 's:a b;c', {}, now)).toBe('sid=s%3Aa%20b%3Bc');
  });
});

describe('serializeClearCookie', () => {
  it('expires the cookie in the past with Max-Age=0 and an empty value', () => {
    const parsed = parseSetCookie(serializeClearCookie('sid', { path: '/' }));
    expect(parsed.name).toBe('sid');
    expect(parsed.value).toBe('');
    expect(parsed.maxAge).toBe(0);
    expect(parsed.expires!.getTime()).toBe(0);
  });

  it('mirrors domain, path, secure, sameSite and partitioned so the browser matches the cookie', () => {
    const header = serializeClearCookie('__Secure-sid', {
      domain: '.example.com',
      path: '/app',
      secure: true,
      sameSite: 'none',
      partitioned: true,
      httpOnly: true,
    });
    expect(header).toBe(
      '__Secure-sid=; Max-Age=0; Domain=.example.com; Path=/app; Expires=Thu, 01 Jan 1970 00:00:00 GMT; HttpOnly; Secure; Partitioned; SameSite=None',
    );
  });

  it('ignores an expires attribute passed in: a clearing cookie always lies in the past', () => {
    const header = serializeClearCookie('sid', { path: '/', expires: new Date(Date.UTC(2040, 0, 1)) });
    expect(header).toBe('sid=; Max-Age=0; Path=/; Expires=Thu, 01 Jan 1970 00:00:00 GMT');
  });
});
