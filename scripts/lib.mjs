// Shared by the scripts: their `--name value` options and the built package they exercise.
import { existsSync } from 'node:fs';
import { parseArgs } from 'node:util';

/** The given `--name value` options as strings (unset ones are undefined); an unknown option is an error. */
export function options(names) {
  return parseArgs({ options: Object.fromEntries(names.map((name) => [name, { type: 'string' }])) }).values;
}

/** Imports a module of the built package, e.g. `built('src/index.js')`; exits with a hint when dist/ is missing. */
export async function built(subpath) {
  const url = new URL(`../dist/${subpath}`, import.meta.url);
  if (!existsSync(url)) {
    console.error('dist/ is missing: build first with `npx tsc -p tsconfig.build.json`');
    process.exit(2);
  }
  return import(url.href);
}
