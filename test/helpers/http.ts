import { createServer, type RequestListener, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach } from 'vitest';

/** A server listening on a random loopback port. */
export interface Listening {
  url: string;
  server: Server;
  close(): Promise<void>;
}

/** Starts a node:http server for `listener` (an Express app works) on 127.0.0.1:0. */
export async function listen(listener: RequestListener): Promise<Listening> {
  const server = createServer(listener);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    server,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections?.();
        server.close(() => resolve());
      }),
  };
}

/** For a test file: `listen`, with every server it starts closed after each test. */
export function listenPerTest(): (listener: RequestListener) => Promise<Listening> {
  const open: Listening[] = [];
  afterEach(async () => {
    await Promise.all(open.splice(0).map((s) => s.close()));
  });
  return async (listener) => {
    const s = await listen(listener);
    open.push(s);
    return s;
  };
}

/** For a test file: serves a listener (an Express app works) and returns a {@link Client} for it; servers close after each test. */
export function clientPerTest(): (listener: RequestListener) => Promise<Client> {
  const listenHere = listenPerTest();
  return async (listener) => new Client((await listenHere(listener)).url);
}

/** A minimal browser-like cookie jar over fetch: remembers name=value, forgets expired cookies. */
export class Client {
  readonly jar = new Map<string, string>();
  constructor(readonly base: string) {}

  get cookieHeader(): string {
    return [...this.jar].map(([k, v]) => `${k}=${v}`).join('; ');
  }

  async request(path: string, init: RequestInit & { headers?: Record<string, string> } = {}): Promise<Response & { text_: string }> {
    const headers: Record<string, string> = { ...init.headers };
    if (this.jar.size > 0 && headers.cookie === undefined) headers.cookie = this.cookieHeader;
    const res = await fetch(this.base + path, { ...init, headers, redirect: 'manual' });
    for (const line of res.headers.getSetCookie()) {
      const [pair, ...attrs] = line.split(';');
      const eq = pair!.indexOf('=');
      const name = pair!.slice(0, eq).trim();
      const value = pair!.slice(eq + 1).trim();
      const expired = attrs.some((a) => /^\s*max-age=0\s*$/i.test(a) || (/^\s*expires=/i.test(a) && Date.parse(a.split('=')[1]!) <= Date.now()));
      if (expired || value === '') this.jar.delete(name);
      else this.jar.set(name, value);
    }
    const text_ = init.method === 'HEAD' ? '' : await res.text();
    return Object.assign(res, { text_ });
  }
}

/** The Set-Cookie values of a response whose name is `name`. */
export function sessionCookies(res: Response, name: string): string[] {
  return res.headers.getSetCookie().filter((c) => c.startsWith(`${name}=`));
}
