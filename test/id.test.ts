import { describe, expect, it } from 'vitest';
import { generateSessionId } from '../src/id.ts';

describe('generateSessionId', () => {
  it('returns 43 base64url characters that decode to 32 bytes', () => {
    for (let i = 0; i < 500; i++) {
      const id = generateSessionId();
      expect(id).toMatch(/^[A-Za-z0-9_-]{43}$/);
      const bytes = atob(id.replace(/-/g, '+').replace(/_/g, '/') + '=');
      expect(bytes.length).toBe(32);
      // Re-encoding gives the same text: the last character carries no stray bits.
      expect(btoa(bytes).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '')).toBe(id);
    }
  });

  it('never repeats across many pool refills, and uses every character of the alphabet', () => {
    const seen = new Set<string>();
    const chars = new Set<string>();
    for (let i = 0; i < 20_000; i++) {
      const id = generateSessionId();
      seen.add(id);
      for (const ch of id.slice(0, 42)) chars.add(ch);
    }
    expect(seen.size).toBe(20_000);
    expect(chars.size).toBe(64);
  });
});
