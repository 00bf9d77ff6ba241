/**
 * The import rules of ARCHITECTURE.md, checked on the real source tree.
 *
 * Every `.ts` file under src/ and adapters/ is parsed with the TypeScript compiler (a pinned
 * dev dependency), not matched with regular expressions, so comments, strings, template
 * literals and regex literals never count as imports or as uses of `Buffer`/`process`.
 * "Type-only" means `import type` / `export type`: under `verbatimModuleSyntax` an
 * `import { type X } from 'm'` still emits `import {} from 'm'`, so it loads `m` at run time
 * and is treated as a value import here.
 *
 * The checker is a pure function of (path, source); the last block feeds it small fixtures
 * to prove that each rule really fires, so a parser change cannot make this file pass vacuously.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { builtinModules } from 'node:module';
import { dirname, join, posix, relative, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');

// ---------------------------------------------------------------------------------------------
// The explicit exceptions. Each entry says why; anything not listed here follows the rules.
// ---------------------------------------------------------------------------------------------

interface NodeOnlyAllowance {
  /** Repo-relative path of the store file, or a RegExp for a store split into several files. */
  file: string | RegExp;
  /** The Node built-ins it may import. */
  modules: readonly string[];
  /** True when the built-in may only be loaded lazily with `await import(...)`, so that the
   *  module still loads on runtimes that lack it and fails only when that dialect is used. */
  dynamicOnly: boolean;
  why: string;
}

/** Stores that are Node-only by nature and so may use Node built-ins (rules 1 and 3). */
const NODE_ONLY_STORES: readonly NodeOnlyAllowance[] = [
  {
    file: 'src/stores/file.ts',
    modules: ['node:fs', 'node:fs/promises', 'node:path', 'node:crypto'],
    dynamicOnly: false,
    why: 'the file store keeps sessions on disk; it is only exported under websession/stores/file and documented as Node/Deno/Bun-only',
  },
  {
    // The SQL store and its dialects (src/stores/sql.ts, src/stores/sql-*.ts or src/stores/sql/**).
    file: /^src\/stores\/sql(\.ts|-[\w-]+\.ts|\/.+\.ts)$/,
    modules: ['node:sqlite'],
    dynamicOnly: true,
    why: 'the sqlite dialect opens node:sqlite lazily; Postgres/MySQL users and Node 20 (which has no node:sqlite) never load it',
  },
];

/** Frameworks the core must never import (rule 1). Adapters may import their own one, types only. */
const FRAMEWORK = /^(express|express4|hono|@hono\/[^/]+|koa|fastify|connect|h3|elysia)(\/.*)?$/;

/** Which framework each adapter may take types from (rule 4). */
const ADAPTER_FRAMEWORK_TYPES: Record<string, RegExp> = {
  'adapters/express.ts': /^(express|express-serve-static-core)$/,
  'adapters/hono.ts': /^hono(\/.*)?$/,
};

/**
 * Node-only adapter modules that may load a Node built-in as a value (the exception to rule 4
 * that issue #5 asks for: a faster primitive on Node, kept out of the core and out of the
 * runtime-neutral adapters).
 */
const NODE_ONLY_ADAPTER_VALUES: Record<string, { modules: readonly string[]; why: string }> = {
  'adapters/node-hmac.ts': {
    modules: ['node:crypto'],
    why: "node:crypto's synchronous HMAC for the Express and node:http adapters; Web Crypto costs about six times more per call on Node",
  },
};

/** Adapters that must stay runtime-neutral (Workers, Deno, Bun): not even `node:*` types. */
const RUNTIME_NEUTRAL_ADAPTERS = new Set(['adapters/fetch.ts', 'adapters/hono.ts', 'adapters/engine-for.ts']);

// ---------------------------------------------------------------------------------------------
// Scanning
// ---------------------------------------------------------------------------------------------

interface ImportRef {
  specifier: string;
  line: number;
  /** `import type` / `export type` (or every use is inside a type position, e.g. `typeof import('x')`). */
  typeOnly: boolean;
  /** `import('x')` (or `require('x')`) in an expression, rather than a static declaration. */
  dynamic: boolean;
}

interface GlobalUse {
  name: 'Buffer' | 'process';
  line: number;
}

interface Scan {
  imports: ImportRef[];
  globals: GlobalUse[];
}

const NODE_BUILTINS = new Set(builtinModules.filter((m) => !m.startsWith('_')));

function isNodeBuiltin(specifier: string): boolean {
  return specifier.startsWith('node:') || NODE_BUILTINS.has(specifier) || NODE_BUILTINS.has(specifier.split('/')[0]!);
}

/** A specifier written as `fs` is reported and allowlisted as `node:fs`. */
function normalizeBuiltin(specifier: string): string {
  return specifier.startsWith('node:') ? specifier : `node:${specifier}`;
}

function scanSource(fileName: string, source: string): Scan {
  const sf = ts.createSourceFile(fileName, source, ts.ScriptTarget.Latest, true, ts.ScriptKind.TS);
  const imports: ImportRef[] = [];
  const globals: GlobalUse[] = [];
  const lineOf = (node: ts.Node) => sf.getLineAndCharacterOfPosition(node.getStart(sf)).line + 1;

  // `const specifier = 'node:sqlite'; await import(specifier)` is a common way to keep bundlers
  // from resolving an optional module; resolve such string constants so the import is still
  // checked. A name declared twice with different values stays unresolved ('<computed>').
  const constants = new Map<string, string | null>();
  const collect = (node: ts.Node): void => {
    if (
      ts.isVariableDeclaration(node) &&
      ts.isIdentifier(node.name) &&
      node.initializer &&
      ts.isStringLiteralLike(node.initializer) &&
      ts.isVariableDeclarationList(node.parent) &&
      (node.parent.flags & ts.NodeFlags.Const) !== 0
    ) {
      const prev = constants.get(node.name.text);
      constants.set(node.name.text, prev === undefined || prev === node.initializer.text ? node.initializer.text : null);
    }
    ts.forEachChild(node, collect);
  };
  collect(sf);
  const literalOf = (arg: ts.Expression | undefined): string => {
    if (arg && ts.isStringLiteralLike(arg)) return arg.text;
    if (arg && ts.isIdentifier(arg)) return constants.get(arg.text) ?? '<computed>';
    return '<computed>';
  };

  const visit = (node: ts.Node): void => {
    if (ts.isImportDeclaration(node) && ts.isStringLiteral(node.moduleSpecifier)) {
      imports.push({
        specifier: node.moduleSpecifier.text,
        line: lineOf(node),
        typeOnly: node.importClause?.isTypeOnly === true,
        dynamic: false,
      });
    } else if (ts.isExportDeclaration(node) && node.moduleSpecifier && ts.isStringLiteral(node.moduleSpecifier)) {
      imports.push({ specifier: node.moduleSpecifier.text, line: lineOf(node), typeOnly: node.isTypeOnly, dynamic: false });
    } else if (
      ts.isImportEqualsDeclaration(node) &&
      ts.isExternalModuleReference(node.moduleReference) &&
      ts.isStringLiteral(node.moduleReference.expression)
    ) {
      imports.push({ specifier: node.moduleReference.expression.text, line: lineOf(node), typeOnly: node.isTypeOnly, dynamic: false });
    } else if (ts.isImportTypeNode(node) && ts.isLiteralTypeNode(node.argument) && ts.isStringLiteral(node.argument.literal)) {
      // `typeof import('x')` / `import('x').T` in a type position.
      imports.push({ specifier: node.argument.literal.text, line: lineOf(node), typeOnly: true, dynamic: false });
    } else if (ts.isCallExpression(node)) {
      const [arg] = node.arguments;
      const isImport = node.expression.kind === ts.SyntaxKind.ImportKeyword;
      const isRequire = ts.isIdentifier(node.expression) && node.expression.text === 'require';
      if (isImport || isRequire) {
        // A specifier that is neither a literal nor a string constant cannot be checked, so it
        // is reported as such.
        const specifier = literalOf(arg);
        imports.push({ specifier, line: lineOf(node), typeOnly: false, dynamic: true });
      }
    } else if (ts.isIdentifier(node) && (node.text === 'Buffer' || node.text === 'process')) {
      if (isGlobalReference(node)) globals.push({ name: node.text, line: lineOf(node) });
    } else if (
      ts.isPropertyAccessExpression(node) &&
      (node.name.text === 'Buffer' || node.name.text === 'process') &&
      ts.isIdentifier(node.expression) &&
      ['globalThis', 'self', 'window', 'global'].includes(node.expression.text)
    ) {
      // `globalThis.process?.env` is the same dependency as `process.env`.
      globals.push({ name: node.name.text, line: lineOf(node) });
    }
    ts.forEachChild(node, visit);
  };
  visit(sf);
  return { imports, globals };
}

/** True when an identifier named Buffer/process refers to the global, not to a property name or a local declaration's name. */
function isGlobalReference(id: ts.Identifier): boolean {
  const p = id.parent;
  if (ts.isPropertyAccessExpression(p) && p.name === id) return false; // x.process
  if (ts.isQualifiedName(p) && p.right === id) return false; // A.process in a type
  if ((ts.isPropertyAssignment(p) || ts.isPropertySignature(p) || ts.isPropertyDeclaration(p) || ts.isMethodDeclaration(p)) && p.name === id)
    return false; // { process: ... }
  if ((ts.isImportSpecifier(p) || ts.isExportSpecifier(p)) && p.propertyName === id) return false;
  if (ts.isBindingElement(p) && p.propertyName === id) return false; // const { process: p } = x
  if (ts.isEnumMember(p) || ts.isLabeledStatement(p)) return false;
  // A parameter, variable or function *named* process is still a smell, but it is not a use
  // of the global; uses of that local would be flagged below anyway, so flag declarations too.
  return true;
}

// ---------------------------------------------------------------------------------------------
// Rules
// ---------------------------------------------------------------------------------------------

/** Repo-relative POSIX path that `specifier` points to (extension dropped), or null when it is a package/built-in. */
function resolveRelative(fromFile: string, specifier: string): string | null {
  if (!specifier.startsWith('.')) return null;
  const target = posix.normalize(posix.join(posix.dirname(fromFile), specifier));
  return target.replace(/\.(d\.)?(ts|mts|cts|tsx|js|mjs|cjs)$/, '');
}

function nodeOnlyAllowance(file: string): NodeOnlyAllowance | undefined {
  return NODE_ONLY_STORES.find((a) => (typeof a.file === 'string' ? a.file === file : a.file.test(file)));
}

/** Whether `file` may import the Node built-in `ref` under the explicit allowlist. */
function builtinAllowedInSrc(file: string, ref: ImportRef): boolean {
  const allowance = nodeOnlyAllowance(file);
  if (!allowance) return false;
  if (!allowance.modules.includes(normalizeBuiltin(ref.specifier))) return false;
  return allowance.dynamicOnly ? ref.dynamic || ref.typeOnly : true;
}

type Violation = string;
const at = (file: string, line: number, what: string): Violation => `${file}:${line} ${what}`;

/** Rule 1: the core is Web-standards only. */
function checkCore(file: string, scan: Scan): Violation[] {
  const out: Violation[] = [];
  for (const ref of scan.imports) {
    const target = resolveRelative(file, ref.specifier);
    if (target !== null && (target === 'adapters' || target.startsWith('adapters/') || !target.startsWith('src/')))
      out.push(at(file, ref.line, `imports ${ref.specifier}, outside src/`));
    if (FRAMEWORK.test(ref.specifier)) out.push(at(file, ref.line, `imports the framework ${ref.specifier}`));
    if (target === null && isNodeBuiltin(ref.specifier) && !builtinAllowedInSrc(file, ref))
      out.push(at(file, ref.line, `imports the Node built-in ${ref.specifier}${ref.dynamic ? ' (dynamically)' : ''}`));
    if (ref.specifier === '<computed>') out.push(at(file, ref.line, 'loads a module by a computed name'));
  }
  for (const g of scan.globals) out.push(at(file, g.line, `uses the Node global ${g.name}`));
  return out;
}

/** Rule 3: a store imports only the store types, the errors and sibling store files. */
function checkStore(file: string, scan: Scan): Violation[] {
  const out: Violation[] = [];
  for (const ref of scan.imports) {
    const target = resolveRelative(file, ref.specifier);
    if (target !== null) {
      if (!(target === 'src/store' || target === 'src/errors' || target.startsWith('src/stores/')))
        out.push(at(file, ref.line, `imports ${ref.specifier}; a store may import only ../store.ts, ../errors.ts and other stores`));
    } else if (isNodeBuiltin(ref.specifier)) {
      if (!builtinAllowedInSrc(file, ref)) {
        const allowance = nodeOnlyAllowance(file);
        const hint = allowance?.dynamicOnly && allowance.modules.includes(normalizeBuiltin(ref.specifier)) ? ' statically (only `await import()` is allowed)' : '';
        out.push(at(file, ref.line, `imports the Node built-in ${ref.specifier}${hint}`));
      }
    } else {
      out.push(at(file, ref.line, `imports the package ${ref.specifier}; driver clients are passed in and typed structurally`));
    }
  }
  return out;
}

/** Rule 4: an adapter imports only the public core, sibling adapters and types from its framework. */
function checkAdapter(file: string, scan: Scan): Violation[] {
  const out: Violation[] = [];
  const framework = ADAPTER_FRAMEWORK_TYPES[file];
  for (const ref of scan.imports) {
    const target = resolveRelative(file, ref.specifier);
    if (target !== null) {
      const ok = target === 'src/index' || target.startsWith('adapters/');
      if (!ok) out.push(at(file, ref.line, `imports ${ref.specifier}; adapters import the core only through ../src/index.ts`));
      else if (RUNTIME_NEUTRAL_ADAPTERS.has(file) && `${target}.ts` in NODE_ONLY_ADAPTER_VALUES) {
        out.push(at(file, ref.line, `imports ${ref.specifier}, which loads a Node built-in; this adapter must stay runtime-neutral`));
      }
      continue;
    }
    const isNode = isNodeBuiltin(ref.specifier);
    const allowedTypeSource = (isNode && !RUNTIME_NEUTRAL_ADAPTERS.has(file)) || (framework?.test(ref.specifier) ?? false);
    if (allowedTypeSource && ref.typeOnly) continue;
    if (isNode && NODE_ONLY_ADAPTER_VALUES[file]?.modules.includes(normalizeBuiltin(ref.specifier))) continue;
    if (allowedTypeSource) out.push(at(file, ref.line, `imports ${ref.specifier} as a value; only \`import type\` is allowed`));
    else out.push(at(file, ref.line, `imports ${ref.specifier}; not the public core, a sibling adapter or its framework's types`));
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// The tree
// ---------------------------------------------------------------------------------------------

function listTs(dir: string): string[] {
  let entries: string[];
  try {
    entries = readdirSync(join(ROOT, dir), { recursive: true }) as string[];
  } catch {
    return [];
  }
  return entries
    .map((e) => posix.join(dir, e.split(sep).join('/')))
    .filter((p) => /\.(ts|mts|cts|tsx)$/.test(p))
    .sort();
}

const files = [...listTs('src'), ...listTs('adapters')];
const scans = new Map(files.map((f) => [f, scanSource(f, readFileSync(join(ROOT, f), 'utf8'))] as const));
const srcFiles = files.filter((f) => f.startsWith('src/'));
const storeFiles = srcFiles.filter((f) => f.startsWith('src/stores/'));
const adapterFiles = files.filter((f) => f.startsWith('adapters/'));

/** Files reachable from `entry` through value imports (what loading it would load). */
function staticClosure(entry: string, follow: (ref: ImportRef) => boolean): Map<string, ImportRef[]> {
  const seen = new Map<string, ImportRef[]>();
  const stack = [entry];
  while (stack.length) {
    const file = stack.pop()!;
    if (seen.has(file)) continue;
    const scan = scans.get(file);
    if (!scan) continue;
    seen.set(file, scan.imports);
    for (const ref of scan.imports) {
      if (!follow(ref)) continue;
      const target = resolveRelative(file, ref.specifier);
      if (target === null) continue;
      const next = files.find((f) => f.replace(/\.(ts|mts|cts|tsx)$/, '') === target);
      if (next) stack.push(next);
    }
  }
  return seen;
}

function report(violations: Violation[]): string {
  return violations.length ? `\n  ${violations.join('\n  ')}\n(see ARCHITECTURE.md, "Import rules")` : '';
}

describe('the import rules of ARCHITECTURE.md', () => {
  it('finds the core to check', () => {
    expect(srcFiles).toContain('src/index.ts');
    expect(srcFiles).toContain('src/engine.ts');
    // The scanner sees real imports (guards against a parser change making every rule vacuous).
    expect(scans.get('src/engine.ts')!.imports.map((r) => r.specifier)).toContain('./errors.ts');
  });

  it('the core never imports adapters, a framework or Node built-ins, and never touches Buffer or process', () => {
    const violations = srcFiles.flatMap((f) => checkCore(f, scans.get(f)!));
    expect(violations, report(violations)).toEqual([]);
  });

  it('the engine and the session handle never import a concrete store, directly or through another core module', () => {
    const violations: Violation[] = [];
    for (const entry of ['src/engine.ts', 'src/session.ts']) {
      if (!scans.has(entry)) continue;
      // Type-only imports are followed too: the engine should not even name a concrete store's type.
      for (const [file, refs] of staticClosure(entry, () => true)) {
        for (const ref of refs) {
          const target = resolveRelative(file, ref.specifier);
          if (target?.startsWith('src/stores/'))
            violations.push(at(file, ref.line, `imports ${ref.specifier}${file === entry ? '' : ` (reached from ${entry})`}`));
        }
      }
    }
    expect(violations, report(violations)).toEqual([]);
  });

  it('a store imports only the store types, the errors and other stores, and Node built-ins only where allowlisted', () => {
    const violations = storeFiles.flatMap((f) => checkStore(f, scans.get(f)!));
    expect(violations, report(violations)).toEqual([]);
  });

  it('the public barrel never loads a Node-only store', () => {
    // Allowlisted Node-only stores are reachable only through their own subpath export.
    const violations: Violation[] = [];
    for (const [file, refs] of staticClosure('src/index.ts', (r) => !r.typeOnly && !r.dynamic)) {
      for (const ref of refs)
        if (!ref.typeOnly && !ref.dynamic && isNodeBuiltin(ref.specifier)) violations.push(at(file, ref.line, `loads ${ref.specifier} from the barrel`));
    }
    expect(violations, report(violations)).toEqual([]);
  });

  it('an adapter imports only the public core, other adapters, and types from its framework', () => {
    const violations = adapterFiles.flatMap((f) => checkAdapter(f, scans.get(f)!));
    expect(violations, report(violations)).toEqual([]);
  });

});

describe('the import-rule checker itself', () => {
  const core = (src: string, file = 'src/x.ts') => checkCore(file, scanSource(file, src));
  const store = (src: string, file = 'src/stores/x.ts') => checkStore(file, scanSource(file, src));
  const adapter = (src: string, file = 'adapters/express.ts') => checkAdapter(file, scanSource(file, src));

  it('flags a Node built-in in the core, with or without the node: prefix, static or dynamic', () => {
    expect(core(`import { readFile } from 'node:fs';`)).toHaveLength(1);
    expect(core(`import { createHash } from 'crypto';`)).toHaveLength(1);
    expect(core(`export async function f() { return import('node:sqlite'); }`)).toHaveLength(1);
    expect(core(`import type { IncomingMessage } from 'node:http';`)).toHaveLength(1);
  });

  it('flags frameworks and adapters imported from the core', () => {
    expect(core(`import type { Context } from 'hono';`)).toHaveLength(1);
    expect(core(`import { serve } from '@hono/node-server';`)).toHaveLength(1);
    expect(core(`import express from 'express';`)).toHaveLength(1);
    expect(core(`import { session } from '../adapters/express.ts';`)).toHaveLength(1);
  });

  it('flags Buffer and process but not comments, strings, property names or lookalikes', () => {
    expect(core(`const b = Buffer.from('x');`)).toHaveLength(1);
    expect(core(`export const dev = process.env.NODE_ENV;`)).toHaveLength(1);
    expect(core(`export const p = globalThis.process;`)).toHaveLength(1);
    expect(
      core(
        [
          `// Buffer.from(x) and process.env in a comment`,
          `/** process.env.SESSION_SECRET */`,
          `const s = 'process.env'; const t = \`Buffer \${s}\`; const r = /process|Buffer/;`,
          `const o = { process: 1 }; o.process; const a = new ArrayBuffer(1);`,
        ].join('\n'),
      ),
    ).toEqual([]);
  });

  it('allows Node built-ins only in allowlisted stores, and node:sqlite only lazily', () => {
    expect(store(`import { readFile } from 'node:fs/promises';`, 'src/stores/file.ts')).toEqual([]);
    expect(store(`import { readFile } from 'node:fs/promises';`, 'src/stores/redis.ts')).toHaveLength(1);
    expect(store(`export const open = () => import('node:sqlite');`, 'src/stores/sql.ts')).toEqual([]);
    expect(store(`import { DatabaseSync } from 'node:sqlite';`, 'src/stores/sql.ts')).toHaveLength(1);
    // A specifier held in a string constant (to keep bundlers away) is resolved and checked.
    expect(store(`const m = 'node:sqlite';\nexport const open = () => import(m);`, 'src/stores/sql.ts')).toEqual([]);
    expect(store(`const m = 'node:fs';\nexport const open = () => import(m);`, 'src/stores/sql.ts')).toHaveLength(1);
    expect(core(`export const load = (name: string) => import(name);`)).toEqual(['src/x.ts:1 loads a module by a computed name']);
    expect(core(`import { DatabaseSync } from 'node:sqlite';`, 'src/stores/sql.ts')).toHaveLength(1);
  });

  it('lets a store import only the store types, the errors and other stores', () => {
    expect(store(`import type { Store } from '../store.ts';\nimport { storeError } from '../errors.ts';\nimport { x } from './shared.ts';`)).toEqual([]);
    expect(store(`import { createSessionEngine } from '../engine.ts';`)).toHaveLength(1);
    expect(store(`import type { RedisClientType } from 'redis';`)).toHaveLength(1);
  });

  it('lets an adapter import the barrel, sibling adapters and framework types only', () => {
    expect(
      adapter(
        `import { createSessionEngine, type Store } from '../src/index.ts';\nimport type { Request } from 'express';\nimport type { ServerResponse } from 'node:http';\nimport { writeHead } from './node-response.ts';`,
      ),
    ).toEqual([]);
    expect(adapter(`import express from 'express';`)).toHaveLength(1);
    // `import { type X }` still loads the module under verbatimModuleSyntax.
    expect(adapter(`import { type Request } from 'express';`)).toHaveLength(1);
    expect(adapter(`import { createSigner } from '../src/signing.ts';`)).toHaveLength(1);
    expect(adapter(`import type { Context } from 'hono';`)).toHaveLength(1); // not the express adapter's framework
    expect(adapter(`import type { Context } from 'hono';`, 'adapters/hono.ts')).toEqual([]);
    expect(adapter(`import type { IncomingMessage } from 'node:http';`, 'adapters/fetch.ts')).toHaveLength(1);
  });

  it('lets only the allowlisted Node-only adapter module load a Node built-in, and keeps it out of neutral adapters', () => {
    expect(adapter(`import { createHmac } from 'node:crypto';`, 'adapters/node-hmac.ts')).toEqual([]);
    expect(adapter(`import { readFile } from 'node:fs';`, 'adapters/node-hmac.ts')).toHaveLength(1);
    expect(adapter(`import { createHmac } from 'node:crypto';`, 'adapters/express.ts')).toHaveLength(1);
    expect(adapter(`import { nodeHmac } from './node-hmac.ts';`, 'adapters/express.ts')).toEqual([]);
    expect(adapter(`import { nodeHmac } from './node-hmac.ts';`, 'adapters/hono.ts')).toHaveLength(1);
    expect(adapter(`import { nodeHmac } from './node-hmac.ts';`, 'adapters/fetch.ts')).toHaveLength(1);
  });

  it('follows the import graph to find a store reached indirectly', () => {
    const graph = scanSource('src/options.ts', `import { createMemoryStore } from './stores/memory.ts';`);
    expect(graph.imports.map((r) => resolveRelative('src/options.ts', r.specifier))).toEqual(['src/stores/memory']);
  });
});
