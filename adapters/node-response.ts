/**
 * Commit hooks for a `node:http` `ServerResponse`, shared by the Express and node adapters.
 *
 * Web Crypto signing is asynchronous, so the session cookie cannot be computed inside a
 * synchronous `writeHead`. Instead the first `writeHead`/`write`/`flushHeaders`/`end` is held
 * back while the hooks run, then replayed in order with the original arguments (callbacks
 * included). A response that ends before its headers went out (the usual `res.send`/`res.end`)
 * is saved first, so a store failure can still become an error response instead of a 200
 * carrying a cookie for a session that was never stored.
 *
 * How the methods are wrapped matters for speed: giving a response its own `end`/`write`/
 * `writeHead` properties changes its hidden class and slowed every later property access on it
 * (bare Express went from 1.0x to 0.74x in bench S1). So the first hooked response wraps the
 * four methods once on its prototype (Express's shared response object, never a class prototype
 * such as `ServerResponse.prototype`); the wrappers pass straight through for any response without
 * hooks, and each hooked response keeps its state on its request (`res.req`). A response whose methods were already
 * replaced on the instance (by middleware that ran earlier, or a look-alike object), or a plain
 * `node:http` response, is wrapped on the instance instead.
 * @module
 */
import type { OutgoingHttpHeaders, ServerResponse } from 'node:http';
import type { CommitResult } from '../src/index.ts';

/** What the adapter does at the two commit points of a response. */
export interface ResponseHooks {
  /** Computes the session headers; runs once, just before the headers are sent. */
  headers(): Promise<CommitResult>;
  /** Runs the end-of-request store action; runs once, before the response ends. */
  persist(): Promise<void>;
  /**
   * `persist()` then `headers()` in one step, for a response that ends before its headers went
   * out (the usual case); lets the engine decide both from one look at the session.
   */
  finish?(): Promise<CommitResult>;
  /**
   * Whether there is nothing to commit right now (no store write, no cookie); synchronous.
   * Then the response goes out untouched, with no hold and no asynchronous step.
   */
  idle?(): boolean;
  /** Called instead of `headers()` when the headers go out on the idle path (regenerate() must then throw). */
  sent?(): void;
  /**
   * `finish()` begun at once, for a response that ends before its headers went out: the session
   * headers when everything could be done without an await (the headers then count as sent, as
   * after `sent()`; the response is neither held nor delayed), or a promise of them when the
   * commit is under way (the response is held until it settles), or undefined (nothing done) to
   * let `idle()`, then `finish()`, decide.
   */
  finishNow?(): CommitResult | Promise<CommitResult> | undefined;
  /**
   * Reports a failure of either hook. `headersSent` says whether the app's response already
   * started; when it did not, the app's response is dropped and the handler must answer.
   */
  fail(error: unknown, headersSent: boolean): void;
}

type Kind = 'writeHead' | 'write' | 'end' | 'flushHeaders';
type Call = { kind: Kind; args: unknown[] };
type Method = (...args: unknown[]) => unknown;

const OPEN = 0;
const HOLDING = 1;
const HEADERS_DONE = 2;
const BYPASS = 3;

/**
 * Where a hooked response keeps its state: on its request (`res.req`, set by Node and Express),
 * under a symbol. One property, because Express gives every request a new prototype, after which
 * V8 builds a new hidden class for each property added to it (about 3 µs each in-process,
 * bench/express-inproc.mjs). Not in a WeakMap keyed by request either: its entries made every
 * young-generation GC about 60% longer (`node --trace-gc`), about 8 µs per request.
 */
const STATE = Symbol('websession.response');
type Carrier = { [STATE]?: HookState };

function stateOf(res: object): HookState | undefined {
  const req = (res as { req?: Carrier }).req;
  const h = req?.[STATE];
  return h !== undefined && h.res === res ? h : undefined;
}

/** The four methods a hook replaces, as they were before. */
interface Originals {
  writeHead: Method;
  write: Method;
  end: Method;
  flushHeaders: Method;
}

/** One response's hook state and the methods it replaced. */
class HookState {
  state = OPEN;
  ended = false;
  queue: Call[] = [];
  readonly writeHead: Method;
  readonly write: Method;
  readonly end: Method;
  readonly flushHeaders: Method;
  constructor(
    readonly res: ServerResponse,
    readonly hooks: ResponseHooks,
    originals: Originals,
    /** Wrapped on the instance (prototype wrappers then pass this response through). */
    readonly onInstance: boolean,
  ) {
    this.writeHead = originals.writeHead;
    this.write = originals.write;
    this.end = originals.end;
    this.flushHeaders = originals.flushHeaders;
  }

  /** Nothing held and the headers are out (or the hooks gave up): calls go straight through. */
  get passing(): boolean {
    return this.state === BYPASS || (this.state === HEADERS_DONE && this.queue.length === 0);
  }

  call(kind: Kind, args: unknown[]): unknown {
    return this[kind].apply(this.res, args);
  }

  /** Gives up: later calls go straight to the original methods. */
  restore(): void {
    // Prototype wrappers pass a BYPASS state straight through; only instance wrappers are undone.
    if (!this.onInstance) return;
    const res = this.res;
    res.writeHead = this.writeHead as ServerResponse['writeHead'];
    res.write = this.write as ServerResponse['write'];
    res.end = this.end as ServerResponse['end'];
    res.flushHeaders = this.flushHeaders as ServerResponse['flushHeaders'];
  }

  replay(): void {
    const res = this.res;
    for (const call of this.queue.splice(0)) {
      if (call.kind === 'writeHead') {
        if (!res.headersSent) this.writeHead.apply(res, splitWriteHead(res, call.args));
      } else {
        this.call(call.kind, call.args);
      }
    }
  }

  hold(call: Call): void {
    // The usual `res.send()`/`res.end()`: saved and sent at once when nothing has to be awaited
    // (nothing to do, or a store and signer that answer at once); one look at the session.
    const now = this.state === OPEN && call.kind === 'end' ? this.hooks.finishNow?.() : undefined;
    if (now instanceof Promise) {
      // Under way (an asynchronous store or signer): held until it settles, with no second look.
      this.queue.push(call);
      this.state = HOLDING;
      void this.commit(true, now);
      return;
    }
    if (now !== undefined) {
      this.state = HEADERS_DONE;
      this.ended = true;
      if (!this.res.headersSent) applyHeaders(this.res, now);
      this.call('end', call.args);
      return;
    }
    if (this.state === OPEN && this.hooks.idle?.()) {
      // Fast path: nothing to add to the headers and nothing to save yet.
      this.state = HEADERS_DONE;
      // Still tell the engine the headers are going out (regenerate() then throws).
      if (this.hooks.sent) this.hooks.sent();
      else this.hooks.headers().catch(() => {});
      if (call.kind === 'end') this.ended = true;
      this.call(call.kind, call.args);
      return;
    }
    this.queue.push(call);
    if (this.state !== OPEN) return;
    this.state = HOLDING;
    void this.commit(call.kind === 'end');
  }

  /** Commits, then replays what was held; `pending` is a commit `finishNow()` already began. */
  async commit(endsNow: boolean, pending?: Promise<CommitResult>): Promise<void> {
    const res = this.res;
    try {
      let result: CommitResult | undefined;
      if (endsNow) {
        this.ended = true;
        // The whole response is known: store first, so a failure can still be reported.
        if (pending) result = await pending;
        else if (this.hooks.finish) result = await this.hooks.finish();
        else await this.hooks.persist();
      }
      // Apply writeHead's own headers before ours so repeated Set-Cookie values survive.
      const head = this.queue[0]?.kind === 'writeHead' ? this.queue.shift() : undefined;
      const headArgs = head ? splitWriteHead(res, head.args) : undefined;
      result ??= await this.hooks.headers();
      if (!res.headersSent) applyHeaders(res, result);
      this.state = HEADERS_DONE;
      if (headArgs) this.writeHead.apply(res, headArgs);
      this.replay();
    } catch (error) {
      this.state = BYPASS;
      this.queue.length = 0;
      this.restore();
      this.hooks.fail(error, res.headersSent);
    }
  }

  /** `end()` once the headers are out or held: save, then finish the body. */
  endLate(args: unknown[]): void {
    this.ended = true;
    if (this.state === HEADERS_DONE && this.queue.length === 0 && this.hooks.idle?.()) {
      this.end.apply(this.res, args);
      return;
    }
    const finish = (): void => {
      if (this.state === HOLDING) {
        this.queue.push({ kind: 'end', args });
        return;
      }
      this.end.apply(this.res, args);
    };
    this.hooks.persist().then(finish, (error: unknown) => {
      this.hooks.fail(error, true);
      finish();
    });
  }
}

/** Appends Set-Cookie, adds `Vary: Cookie` and a default `Cache-Control: private`. */
export function applyHeaders(res: ServerResponse, result: CommitResult): void {
  if (result.setCookie.length === 0) return;
  const existing = res.getHeader('set-cookie');
  const previous = existing === undefined ? [] : Array.isArray(existing) ? existing.map(String) : [String(existing)];
  res.setHeader('set-cookie', [...previous, ...result.setCookie]);
  if (result.vary) {
    const vary = res.getHeader('vary');
    const text = vary === undefined ? '' : Array.isArray(vary) ? vary.join(', ') : String(vary);
    if (!/(^|,)\s*(cookie|\*)\s*(,|$)/i.test(text)) res.setHeader('vary', text ? `${text}, Cookie` : 'Cookie');
  }
  if (result.cacheControl && !res.hasHeader('cache-control')) res.setHeader('cache-control', 'private');
}

/**
 * Applies the headers given to `writeHead` the way Node would, so the session cookie can be
 * appended after them (a flat `[name, value, ...]` array keeps repeated Set-Cookie values:
 * the on-headers flaw CVE-2025-7339 read such arrays wrongly).
 */
function splitWriteHead(res: ServerResponse, args: unknown[]): unknown[] {
  const [status, second, third] = args;
  const reason = typeof second === 'string' ? second : undefined;
  const headers = (typeof second === 'string' ? third : second) as OutgoingHttpHeaders | unknown[] | undefined;
  if (Array.isArray(headers)) {
    const pairs: Array<[string, unknown]> = [];
    if (headers.length > 0 && Array.isArray(headers[0])) {
      for (const pair of headers as unknown[][]) pairs.push([String(pair[0]), pair[1]]);
    } else {
      if (headers.length % 2 !== 0) throw new TypeError('writeHead headers array must have an even length');
      for (let i = 0; i < headers.length; i += 2) pairs.push([String(headers[i]), headers[i + 1]]);
    }
    for (const [name] of pairs) res.removeHeader(name);
    for (const [name, value] of pairs) res.appendHeader(name, value as string | string[]);
  } else if (headers && typeof headers === 'object') {
    for (const name of Object.keys(headers)) {
      const value = headers[name];
      if (value !== undefined) res.setHeader(name, value);
    }
  }
  return reason === undefined ? [status] : [status, reason];
}

function writeHeadVia(h: HookState, args: unknown[]): unknown {
  if (h.passing) return h.writeHead.apply(h.res, h.state === BYPASS ? args : splitWriteHead(h.res, args));
  h.hold({ kind: 'writeHead', args });
  return h.res;
}

function flushHeadersVia(h: HookState): unknown {
  if (h.passing) return h.flushHeaders.apply(h.res, []);
  h.hold({ kind: 'flushHeaders', args: [] });
  return undefined;
}

function writeVia(h: HookState, args: unknown[]): unknown {
  if (h.passing) return h.write.apply(h.res, args);
  h.hold({ kind: 'write', args });
  return true;
}

function endVia(h: HookState, args: unknown[]): unknown {
  if (h.state === BYPASS) return h.end.apply(h.res, args);
  // A second end() is a no-op, as on a plain response; passed through, it would finish the
  // response before the session is saved (and write a second body while the first is held).
  if (h.ended) return h.res;
  if (h.state === OPEN) h.hold({ kind: 'end', args });
  else h.endLate(args);
  return h.res;
}

/** The prototype wrappers installed so far, each with the methods it wraps. */
const WRAPPED = new WeakMap<Method, Originals>();

/** Wraps the four methods on a response prototype, once; the wrappers pass unhooked responses through. */
function wrapPrototype(proto: Record<string, unknown>): void {
  const originals: Originals = {
    writeHead: proto.writeHead as Method,
    write: proto.write as Method,
    end: proto.end as Method,
    flushHeaders: proto.flushHeaders as Method,
  };
  const hooked = (this_: object): HookState | undefined => {
    const h = stateOf(this_);
    return h === undefined || h.onInstance ? undefined : h;
  };
  const wrappers: Originals = {
    writeHead(this: object, ...args: unknown[]) {
      const h = hooked(this);
      return h ? writeHeadVia(h, args) : originals.writeHead.apply(this, args);
    },
    write(this: object, ...args: unknown[]) {
      const h = hooked(this);
      return h ? writeVia(h, args) : originals.write.apply(this, args);
    },
    end(this: object, ...args: unknown[]) {
      const h = hooked(this);
      return h ? endVia(h, args) : originals.end.apply(this, args);
    },
    flushHeaders(this: object, ...args: unknown[]) {
      const h = hooked(this);
      return h ? flushHeadersVia(h) : originals.flushHeaders.apply(this, args);
    },
  };
  for (const name of ['writeHead', 'write', 'end', 'flushHeaders'] as const) {
    Object.defineProperty(proto, name, { value: wrappers[name], writable: true, configurable: true, enumerable: false });
    WRAPPED.set(wrappers[name], originals);
  }
}

/** The originals behind `res`'s methods when all four resolve to one set of prototype wrappers. */
function wrappedSet(res: ServerResponse): Originals | undefined {
  const r = res as unknown as Record<string, Method>;
  const originals = WRAPPED.get(r.end!);
  if (originals === undefined) return undefined;
  return WRAPPED.get(r.write!) === originals && WRAPPED.get(r.writeHead!) === originals && WRAPPED.get(r.flushHeaders!) === originals ? originals : undefined;
}

/** Wraps `res`'s prototype if needed; the originals to hook `res` through its prototype, or undefined when it must be hooked on the instance. */
function prototypeOriginals(res: ServerResponse, req: unknown): Originals | undefined {
  // The state lives on the request Express links from the response.
  if (req === null || typeof req !== 'object') return undefined;
  const own = Object.prototype.hasOwnProperty;
  // Methods replaced on the instance by earlier middleware shadow any prototype wrapper.
  if (own.call(res, 'end') || own.call(res, 'write') || own.call(res, 'writeHead') || own.call(res, 'flushHeaders')) return undefined;
  const found = wrappedSet(res);
  if (found !== undefined) return found;
  // Express's shared response object under every app's `app.response`, so the wrappers stay in
  // the chain when a mounted sub-app hands the response back to its parent (Express then swaps
  // the response's prototype). Never a class prototype such as ServerResponse.prototype:
  // redefining methods there slowed every response (bench S1 on node:http went from 0.90x to
  // 0.63x bare), and it would touch other servers too.
  const proto = topPrototype(res) as Record<string, unknown> | undefined;
  if (proto === undefined || !Object.isExtensible(proto)) return undefined;
  if (typeof proto.end !== 'function' || typeof proto.write !== 'function' || typeof proto.writeHead !== 'function' || typeof proto.flushHeaders !== 'function') return undefined;
  wrapPrototype(proto);
  return wrappedSet(res);
}

/**
 * The topmost prototype of `object` made with Object.create rather than by a class (no own
 * `constructor`): Express's shared `request`/`response` objects. Undefined for plain instances.
 */
export function topPrototype(object: object): object | undefined {
  let top: object | undefined;
  for (let p = Object.getPrototypeOf(object) as object | null; p !== null && !Object.prototype.hasOwnProperty.call(p, 'constructor'); p = Object.getPrototypeOf(p) as object | null) top = p;
  return top;
}

/** The hooks installed on the response to `req`, when {@link hookResponse} was asked to remember them. */
export function hooksOfRequest(req: object): ResponseHooks | undefined {
  return (req as Carrier)[STATE]?.hooks;
}

/**
 * Installs the hooks on a response. Call it once per response, before the app writes.
 * With `remember`, the hooks can be found again from the request with {@link hooksOfRequest}
 * (responses hooked through their prototype are always remembered: that is how the wrappers find them).
 * With `onInstance`, the response is hooked on the instance without probing its prototype chain:
 * for a plain `node:http` response, whose class prototype is never wrapped, the probe always fails
 * (four own-property checks and a walk up the chain per response).
 */
export function hookResponse(res: ServerResponse, hooks: ResponseHooks, remember = false, onInstance = false): void {
  const req = (res as { req?: unknown }).req;
  const originals = onInstance ? undefined : prototypeOriginals(res, req);
  if (originals !== undefined) {
    (req as Carrier)[STATE] = new HookState(res, hooks, originals, false);
    return;
  }
  const current: Originals = {
    writeHead: res.writeHead as Method,
    write: res.write as Method,
    end: res.end as Method,
    flushHeaders: res.flushHeaders as Method,
  };
  // Closures, not a WeakMap entry: plain node:http responses measured faster this way.
  const h = new HookState(res, hooks, current, true);
  res.writeHead = ((...args: unknown[]) => writeHeadVia(h, args)) as ServerResponse['writeHead'];
  res.write = ((...args: unknown[]) => writeVia(h, args)) as ServerResponse['write'];
  res.end = ((...args: unknown[]) => endVia(h, args)) as ServerResponse['end'];
  res.flushHeaders = (() => flushHeadersVia(h)) as ServerResponse['flushHeaders'];
  if (remember && req !== null && typeof req === 'object') (req as Carrier)[STATE] = h;
}
