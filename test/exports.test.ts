import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { exports: Record<string, unknown>; peerDependenciesMeta: Record<string, { optional?: boolean }>; peerDependencies: Record<string, string>; dependencies: Record<string, string> };
const jsr = JSON.parse(readFileSync(join(ROOT, 'jsr.json'), 'utf8')) as { exports: Record<string, string> };
const npmEntries = Object.entries(pkg.exports).filter(([key]) => key !== './package.json') as Array<[string, { types: string; default: string }]>;

describe('package entry points', () => {
  it('names the same entry points in package.json and jsr.json', () => {
    expect(npmEntries.map(([key]) => key)).toEqual(Object.keys(jsr.exports));
  });

  it.each(npmEntries)('maps %s to the same source file for npm (built) and JSR (TypeScript)', (key, target) => {
    const source = jsr.exports[key]!;
    expect(existsSync(join(ROOT, source))).toBe(true);
    const built = source.replace(/^\.\//, './dist/').replace(/\.ts$/, '');
    expect(target).toEqual({ types: `${built}.d.ts`, default: `${built}.js` });
  });

  it('keeps frameworks optional and the runtime dependencies to the cookie package', () => {
    expect(Object.keys(pkg.dependencies)).toEqual(['cookie']);
    for (const peer of Object.keys(pkg.peerDependencies)) expect(pkg.peerDependenciesMeta[peer]?.optional).toBe(true);
  });
});
