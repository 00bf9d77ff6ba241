/**
 * Commit hooks for a `node:http` `ServerResponse`, shared by the Express and node adapters.
 *
 * Web Crypto signing is asynchronous, so the session cookie cannot be computed inside a
 * synchronous `writeHead`. Instead the first `writeHead`/`write`/`flushHeaders`/`end` is held
 * back while the hooks run, then replayed in order with the original arguments (callbacks
 * included). A response that ends before its headers went out (the usual `res.send`/`res.end`)
 * is saved first, so a store failure can still become an error response instead of a 200
 * carrying a cookie for a session that was never stored.
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
   * Whether there is nothing to commit right now (no store write, no cookie); synchronous.
   * Then the response goes out untouched, with no hold and no asynchronous step.
   */
  idle?(): boolean;
  /**
   * Reports a failure of either hook. `headersSent` says whether the app's response already
   * started; when it did not, the app's response is dropped and the handler must answer.
   */
  fail(error: unknown, headersSent: boolean): void;
}

type Call = { kind: 'writeHead' | 'write' | 'end' | 'flushHeaders'; args: unknown[] };

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

/** Installs the hooks on a response. Call it once per response, before the app writes. */
export function hookResponse(res: ServerResponse, hooks: ResponseHooks): void {
  const original = {
    writeHead: res.writeHead,
    write: res.write,
    end: res.end,
    flushHeaders: res.flushHeaders,
  };
  let state: 'open' | 'holding' | 'headers-done' | 'bypass' = 'open';
  let ended = false;
  const queue: Call[] = [];

  const restore = (): void => {
    res.writeHead = original.writeHead;
    res.write = original.write;
    res.end = original.end;
    res.flushHeaders = original.flushHeaders;
  };

  const replay = (): void => {
    for (const call of queue.splice(0)) {
      if (call.kind === 'writeHead') {
        if (!res.headersSent) original.writeHead.apply(res, splitWriteHead(res, call.args) as Parameters<ServerResponse['writeHead']>);
      } else if (call.kind === 'write') {
        original.write.apply(res, call.args as Parameters<ServerResponse['write']>);
      } else if (call.kind === 'flushHeaders') {
        original.flushHeaders.apply(res);
      } else {
        original.end.apply(res, call.args as Parameters<ServerResponse['end']>);
      }
    }
  };

  const addHeaders = async (): Promise<void> => {
    const result = await hooks.headers();
    if (!res.headersSent) applyHeaders(res, result);
  };

  const hold = (call: Call): void => {
    if (state === 'open' && hooks.idle?.()) {
      // Fast path: nothing to add to the headers and nothing to save yet.
      state = 'headers-done';
      // Still tell the engine the headers are going out (regenerate() then throws).
      hooks.headers().catch(() => {});
      if (call.kind === 'end') ended = true;
      if (call.kind === 'writeHead') original.writeHead.apply(res, call.args as Parameters<ServerResponse['writeHead']>);
      else if (call.kind === 'write') original.write.apply(res, call.args as Parameters<ServerResponse['write']>);
      else if (call.kind === 'flushHeaders') original.flushHeaders.apply(res);
      else original.end.apply(res, call.args as Parameters<ServerResponse['end']>);
      return;
    }
    queue.push(call);
    if (state !== 'open') return;
    state = 'holding';
    const endsNow = call.kind === 'end';
    void (async () => {
      try {
        if (endsNow) {
          ended = true;
          // The whole response is known: store first, so a failure can still be reported.
          await hooks.persist();
        }
        // Apply writeHead's own headers before ours so repeated Set-Cookie values survive.
        const head = queue[0]?.kind === 'writeHead' ? queue.shift() : undefined;
        const headArgs = head ? splitWriteHead(res, head.args) : undefined;
        await addHeaders();
        state = 'headers-done';
        if (headArgs) original.writeHead.apply(res, headArgs as Parameters<ServerResponse['writeHead']>);
        replay();
      } catch (error) {
        state = 'bypass';
        queue.length = 0;
        restore();
        hooks.fail(error, res.headersSent);
      }
    })();
  };

  res.writeHead = function writeHead(this: ServerResponse, ...args: unknown[]) {
    if (state === 'bypass' || (state === 'headers-done' && queue.length === 0)) {
      return original.writeHead.apply(res, (state === 'bypass' ? args : splitWriteHead(res, args)) as Parameters<ServerResponse['writeHead']>);
    }
    hold({ kind: 'writeHead', args });
    return res;
  } as ServerResponse['writeHead'];

  res.flushHeaders = function flushHeaders(this: ServerResponse) {
    if (state === 'bypass' || (state === 'headers-done' && queue.length === 0)) return original.flushHeaders.apply(res);
    hold({ kind: 'flushHeaders', args: [] });
  };

  res.write = function write(this: ServerResponse, ...args: unknown[]) {
    if (state === 'bypass' || (state === 'headers-done' && queue.length === 0)) {
      return original.write.apply(res, args as Parameters<ServerResponse['write']>);
    }
    hold({ kind: 'write', args });
    return true;
  } as ServerResponse['write'];

  res.end = function end(this: ServerResponse, ...args: unknown[]) {
    if (state === 'bypass') return original.end.apply(res, args as Parameters<ServerResponse['end']>);
    // A second end() is a no-op, as on a plain response; passed through, it would finish the
    // response before the session is saved (and write a second body while the first is held).
    if (ended) return res;
    if (state === 'open') {
      hold({ kind: 'end', args });
      return res;
    }
    ended = true;
    if (state === 'headers-done' && queue.length === 0 && hooks.idle?.()) return original.end.apply(res, args as Parameters<ServerResponse['end']>);
    // Headers went out already (streaming): save, then finish the body.
    const finish = (): void => {
      if (state === 'holding') {
        queue.push({ kind: 'end', args });
        return;
      }
      original.end.apply(res, args as Parameters<ServerResponse['end']>);
    };
    hooks.persist().then(finish, (error: unknown) => {
      hooks.fail(error, true);
      finish();
    });
    return res;
  } as ServerResponse['end'];
}
