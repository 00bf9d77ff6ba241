import { describe, expect, it } from 'vitest';
import { decideCookieAction, decideStoreAction, type CommitPolicy, type CommitState } from '../src/commit.ts';

type Kind = 'new, unmodified' | 'new, modified' | 'existing, unmodified' | 'existing, modified';

/**
 * The state the session handle reports at the end of a request, for each column of
 * express-session.md §1.5: a new session has no verified cookie; a loaded one counts as
 * already saved only with `resave: false` (express-session's savedHash rule).
 */
function stateFor(kind: Kind, resave: boolean, hasExpiry: boolean, extra: Partial<CommitState> = {}): CommitState {
  const isNew = kind.startsWith('new');
  const modified = kind.endsWith(', modified');
  return {
    isNew,
    modified,
    saved: !isNew && !resave && !modified,
    explicitlySaved: false,
    destroyed: false,
    hasExpiry,
    cookieChanged: false,
    signedWithOldSecret: false,
    hadCookie: !isNew,
    deliverable: true,
    storeCanTouch: true,
    ...extra,
  };
}

function policy(resave: boolean, saveUninitialized: boolean, rolling: boolean, resendOnCookieChange = false): CommitPolicy {
  return { resave, saveUninitialized, rolling, resendOnCookieChange };
}

/** Renders the decision in the notation of the matrix: "C + set", "touch", "—". */
function outcome(state: CommitState, p: CommitPolicy): string {
  const store = decideStoreAction(state, p);
  const cookie = decideCookieAction(state, p);
  const parts = [cookie === 'set' ? 'C' : cookie === 'clear' ? 'clear' : '', store === 'none' ? '' : store].filter(Boolean);
  return parts.length === 0 ? '—' : parts.join(' + ');
}

// express-session.md §1.5, verified against express-session 1.19.0 with cookie.maxAge = 60000:
// resave, saveUninitialized, rolling, then the four columns.
const MATRIX: Array<[boolean, boolean, boolean, string, string, string, string]> = [
  [false, false, false, '—', 'C + set', 'touch', 'C + set'],
  [false, false, true, '—', 'C + set', 'C + touch', 'C + set'],
  [false, true, false, 'C + set', 'C + set', 'touch', 'C + set'],
  [false, true, true, 'C + set', 'C + set', 'C + touch', 'C + set'],
  [true, false, false, '—', 'C + set', 'set', 'C + set'],
  [true, false, true, '—', 'C + set', 'C + set', 'C + set'],
  [true, true, false, 'C + set', 'C + set', 'set', 'C + set'],
  [true, true, true, 'C + set', 'C + set', 'C + set', 'C + set'],
];
const KINDS: Kind[] = ['new, unmodified', 'new, modified', 'existing, unmodified', 'existing, modified'];

function rows(hasExpiry: boolean): Array<[boolean, boolean, boolean, Kind, string]> {
  return MATRIX.flatMap(([resave, saveUninitialized, rolling, ...cells]) =>
    KINDS.map((kind, i): [boolean, boolean, boolean, Kind, string] => {
      let expected = cells[i]!;
      // With maxAge null (browser-session cookie) an existing, modified session is stored but
      // its cookie is not re-sent unless rolling.
      if (!hasExpiry && kind === 'existing, modified' && !rolling) expected = 'set';
      return [resave, saveUninitialized, rolling, kind, expected];
    }),
  );
}

describe('decideStoreAction and decideCookieAction', () => {
  describe('reproduce the express-session matrix with cookie.maxAge set', () => {
    it.each(rows(true))('resave %s, saveUninitialized %s, rolling %s, %s: %s', (resave, saveUninitialized, rolling, kind, expected) => {
      expect(outcome(stateFor(kind, resave, true), policy(resave, saveUninitialized, rolling))).toBe(expected);
    });
  });

  describe('reproduce the express-session matrix with cookie.maxAge null', () => {
    it.each(rows(false))('resave %s, saveUninitialized %s, rolling %s, %s: %s', (resave, saveUninitialized, rolling, kind, expected) => {
      expect(outcome(stateFor(kind, resave, false), policy(resave, saveUninitialized, rolling))).toBe(expected);
    });
  });

  describe('stores without touch', () => {
    it.each([false, true])('make no store call for an existing unmodified session (rolling %s)', (rolling) => {
      const state = stateFor('existing, unmodified', false, true, { storeCanTouch: false });
      expect(decideStoreAction(state, policy(false, false, rolling))).toBe('none');
    });

    it('rewrite an existing unmodified session when an idle timeout must see the activity', () => {
      const state = stateFor('existing, unmodified', false, true, { storeCanTouch: false });
      expect(decideStoreAction(state, { ...policy(false, false, false), idleTimeout: true })).toBe('set');
      expect(decideStoreAction(stateFor('new, unmodified', false, true, { storeCanTouch: false }), { ...policy(false, false, false), idleTimeout: true })).toBe('none');
    });

    it('never touch a new session, even one that was saved explicitly', () => {
      const state = stateFor('new, unmodified', false, true, { saved: true, explicitlySaved: true });
      expect(decideStoreAction(state, policy(false, false, false))).toBe('none');
      expect(decideStoreAction(state, policy(false, true, false))).toBe('none');
    });
  });

  describe('explicit save()', () => {
    it('skips the end-of-request write when nothing changed after save()', () => {
      const state = stateFor('existing, modified', false, true, { saved: true, explicitlySaved: true });
      expect(decideStoreAction(state, policy(false, false, false))).toBe('touch');
      expect(decideStoreAction(state, policy(true, false, false))).toBe('touch');
    });

    it('writes again when the data changed after save()', () => {
      const state = stateFor('existing, modified', false, true, { saved: false, explicitlySaved: true });
      expect(decideStoreAction(state, policy(false, false, false))).toBe('set');
    });

    it('keeps express-session: save() of an unmodified new session stores it but sends no cookie with saveUninitialized false', () => {
      const state = stateFor('new, unmodified', false, true, { saved: true, explicitlySaved: true });
      expect(outcome(state, policy(false, false, false))).toBe('—');
    });

    it('writes a new session saved explicitly and changed again, even with saveUninitialized false', () => {
      const state = stateFor('new, modified', false, true, { saved: false, explicitlySaved: true });
      expect(outcome(state, policy(false, false, false))).toBe('C + set');
    });
  });

  describe('deliberate fix 1: destroy', () => {
    it.each(MATRIX.map(([r, s, ro]) => [r, s, ro] as const))('clears the cookie of a destroyed existing session and makes no store call (resave %s, saveUninitialized %s, rolling %s)', (r, s, ro) => {
      const state = stateFor('existing, modified', r, true, { destroyed: true });
      expect(decideCookieAction(state, policy(r, s, ro))).toBe('clear');
      expect(decideStoreAction(state, policy(r, s, ro))).toBe('none');
    });

    it.each(MATRIX.map(([r, s, ro]) => [r, s, ro] as const))('sends nothing for a destroyed session that never had a cookie (resave %s, saveUninitialized %s, rolling %s)', (r, s, ro) => {
      const state = stateFor('new, modified', r, true, { destroyed: true });
      expect(outcome(state, policy(r, s, ro))).toBe('—');
    });
  });

  describe('deliberate fix 2: regenerate then save writes once', () => {
    it('sends the new cookie and does not write again at the end of the request', () => {
      // After regenerate() + save(): a new ID (so new and modified), already saved.
      const state = stateFor('new, modified', false, true, { saved: true, explicitlySaved: true, hadCookie: true });
      for (const p of [policy(false, false, false), policy(true, true, true), policy(false, true, false)]) {
        expect(outcome(state, p)).toBe('C');
      }
    });

    it('writes once at the end when regenerate() was not followed by save()', () => {
      const state = stateFor('new, modified', false, true, { hadCookie: true });
      expect(outcome(state, policy(false, false, false))).toBe('C + set');
    });
  });

  describe('deliberate fix 3: an undeliverable new session', () => {
    it.each(MATRIX.map(([r, s, ro]) => [r, s, ro] as const))('is neither stored nor sent (resave %s, saveUninitialized %s, rolling %s)', (r, s, ro) => {
      for (const kind of ['new, unmodified', 'new, modified'] as const) {
        expect(outcome(stateFor(kind, r, true, { deliverable: false }), policy(r, s, ro))).toBe('—');
      }
    });

    it('still saves an existing session whose data changed, without a cookie', () => {
      const state = stateFor('existing, modified', false, true, { deliverable: false });
      expect(outcome(state, policy(false, false, true))).toBe('set');
    });
  });

  describe('deliberate fix 5: a cookie signed with an older secret', () => {
    it.each(MATRIX.map(([r, s, ro, , , existingUnmodified]) => [r, s, ro, existingUnmodified] as const))(
      'is re-signed even when nothing else would send it (resave %s, saveUninitialized %s, rolling %s)',
      (r, s, ro, unchanged) => {
        const state = stateFor('existing, unmodified', r, false, { signedWithOldSecret: true });
        expect(outcome(state, policy(r, s, ro))).toBe(unchanged.startsWith('C') ? unchanged : `C + ${unchanged}`);
      },
    );

    it('is not re-sent when the request cannot receive a Secure cookie', () => {
      const state = stateFor('existing, unmodified', false, true, { signedWithOldSecret: true, deliverable: false });
      expect(decideCookieAction(state, policy(false, false, false))).toBe('none');
    });
  });

  describe('resendOnCookieChange', () => {
    it('re-sends the cookie when only its settings changed', () => {
      const state = stateFor('existing, unmodified', false, true, { cookieChanged: true });
      expect(outcome(state, policy(false, false, false, true))).toBe('C + touch');
    });

    it('keeps express-session behaviour when off: the store learns the new expiry, the browser does not', () => {
      const state = stateFor('existing, unmodified', false, true, { cookieChanged: true });
      expect(outcome(state, policy(false, false, false, false))).toBe('touch');
    });

    it('re-sends a changed browser-session cookie too', () => {
      const state = stateFor('existing, unmodified', false, false, { cookieChanged: true });
      expect(decideCookieAction(state, policy(false, false, false, true))).toBe('set');
    });

    it('has no effect on a new session, which follows saveUninitialized', () => {
      const state = stateFor('new, unmodified', false, true, { cookieChanged: true });
      expect(decideCookieAction(state, policy(false, false, false, true))).toBe('none');
      expect(decideCookieAction(state, policy(false, true, false, true))).toBe('set');
    });
  });
});
