/**
 * Every way of sending a request, through undici's `Agent` and through `ResilientAgent` built from the
 * same options, against the same real loopback servers: undici's request, stream, pipeline, upgrade and
 * connect; undici's fetch and Node's built-in fetch; undici's and Node's WebSocket (over HTTP/1.1, and
 * over TLS to servers offering h2 with and without RFC 8441); undici's EventSource; HTTP/2; the
 * dispatcher's own life cycle and events. Real parts only, on 127.0.151.x.
 */
import { once } from 'node:events';
import { PassThrough, Readable, Writable } from 'node:stream';
import { pipeline as pipelineP } from 'node:stream/promises';
import { EventSource, WebSocket, type Dispatcher, fetch as undiciFetch, interceptors, request, stream } from 'undici';
import { describe, expect, it } from 'vitest';
import { Agent } from 'undici';
import { resilience } from '../../src/index.js';
import { both, forBuiltinFetch, run, runWith, stableHeaders } from './support/compare.js';
import { eventSourceExchange, get, parseBody, webSocketExchange } from './support/calls.js';
import { useCompatScope } from './support/scope.js';

const HTTP = '127.0.151.1';
const HTTPS = '127.0.151.2';
const { base, server, cert } = useCompatScope('127.0.151.53', HTTPS);
const builtinFetch = globalThis.fetch as unknown as (input: string, init?: Record<string, unknown>) => Promise<Response>;
const BuiltinWebSocket = globalThis.WebSocket as unknown as new (url: string, init?: never) => WebSocket;

/** A fetch Response as the caller observes it (body read). */
async function fetched(res: Response): Promise<unknown> {
  const headers: Record<string, string> = {};
  res.headers.forEach((v, k) => {
    if (k !== 'date' && k !== 'keep-alive') headers[k] = v;
  });
  return {
    status: res.status,
    statusText: res.statusText,
    redirected: res.redirected,
    headers,
    setCookie: res.headers.getSetCookie(),
    body: parseBody(await res.text()),
  };
}

/** `dispatcher.upgrade()` with an origin (undici's types leave it out of the options). */
function upgrade(d: Dispatcher, options: { origin: string; path: string; protocol: string }): Promise<Dispatcher.UpgradeData> {
  return (d.upgrade as unknown as (o: object) => Promise<Dispatcher.UpgradeData>).call(d, options);
}

/** What an upgraded or tunnelled socket echoes back. */
async function echoThrough(socket: NodeJS.ReadWriteStream & { destroy(): void }): Promise<string> {
  socket.write('ping');
  const [data] = (await once(socket as never, 'data')) as [Buffer];
  socket.destroy();
  return String(data);
}

describe('undici request APIs', () => {
  it('request(): GET', async () => {
    const s = await server({ address: HTTP, protocol: 'http' });
    const r = await both(base(), (d) => get(d, `${s.origin}/echo?x=1`));
    expect(r.undici.ok).toBe(true);
    expect(r.ridethrough).toEqual(r.undici);
  });

  it('request(): POST with headers and a body', async () => {
    const s = await server({ address: HTTP, protocol: 'http' });
    const r = await both(base(), (d) => get(d, `${s.origin}/echo`, { method: 'POST', body: 'hello', headers: { 'x-one': '1', 'content-type': 'text/plain' } }));
    expect(r.undici.ok).toBe(true);
    expect(r.ridethrough).toEqual(r.undici);
  });

  it('request(): HEAD, 204 and a retryable status as the final answer', async () => {
    const s = await server({ address: HTTP, protocol: 'http' });
    const r = await both({ ...base(), maxAttempts: 1 }, async (d) => [
      await get(d, `${s.origin}/echo`, { method: 'HEAD' }),
      await get(d, `${s.origin}/status/204`),
      await get(d, `${s.origin}/status/503`),
    ]);
    expect(r.undici.ok).toBe(true);
    expect(r.ridethrough).toEqual(r.undici);
  });

  it('request(): trailers', async () => {
    const s = await server({ address: HTTP, protocol: 'http' });
    const r = await both(base(), async (d) => {
      const res = await request(`${s.origin}/trailers`, { dispatcher: d });
      const body = await res.body.text();
      return { body, trailers: res.trailers };
    });
    expect(r.undici).toEqual({ ok: true, value: { body: 'body', trailers: { 'x-trailer': 'tail' } } });
    expect(r.ridethrough).toEqual(r.undici);
  });

  it('request(): aborted before the response headers', async () => {
    const s = await server({ address: HTTP, protocol: 'http' });
    const r = await both(base(), async (d) => {
      const controller = new AbortController();
      setTimeout(() => controller.abort(), 100);
      return get(d, `${s.origin}/hold`, { signal: controller.signal });
    });
    expect(r.undici).toMatchObject({ ok: false, error: { name: 'AbortError' } });
    expect(r.ridethrough).toEqual(r.undici);
  });

  it('request(): aborted while the body streams', async () => {
    const s = await server({ address: HTTP, protocol: 'http' });
    const r = await both(base(), async (d) => {
      const controller = new AbortController();
      const res = await request(`${s.origin}/slow-body/5000`, { dispatcher: d, signal: controller.signal });
      const first = String((await res.body[Symbol.asyncIterator]().next()).value);
      controller.abort();
      return [first, await res.body.text().catch((err: Error) => err.name)];
    });
    expect(r.undici.ok).toBe(true);
    expect(r.ridethrough).toEqual(r.undici);
  });

  it('stream()', async () => {
    const s = await server({ address: HTTP, protocol: 'http' });
    const r = await both(base(), async (d) => {
      const chunks: Buffer[] = [];
      const data = await stream(`${s.origin}/echo`, { method: 'PUT', body: 'streamed', dispatcher: d }, ({ statusCode, headers }) => {
        chunks.push(Buffer.from(`${statusCode} ${String(headers['content-type'])} `));
        return new Writable({
          write(c: Buffer, _e, cb) {
            chunks.push(c);
            cb();
          },
        });
      });
      return { text: Buffer.concat(chunks).toString(), trailers: data.trailers };
    });
    expect(r.undici.ok).toBe(true);
    expect(r.ridethrough).toEqual(r.undici);
  });

  it('pipeline()', async () => {
    const s = await server({ address: HTTP, protocol: 'http' });
    const r = await both(base(), async (d) => {
      const out: Buffer[] = [];
      await pipelineP(
        Readable.from(['piped ', 'body']),
        d.pipeline({ path: '/echo', method: 'POST', origin: s.origin }, ({ statusCode, body }) => {
          out.push(Buffer.from(`${statusCode} `));
          return body;
        }),
        new Writable({
          write(c: Buffer, _e, cb) {
            out.push(c);
            cb();
          },
        }),
      );
      return Buffer.concat(out).toString();
    });
    expect(r.undici.ok).toBe(true);
    expect(r.ridethrough).toEqual(r.undici);
  });

  it('upgrade() (HTTP/1.1, a custom protocol)', async () => {
    const s = await server({ address: HTTP, protocol: 'http' });
    const r = await both(base(), async (d) => {
      const { headers, socket } = await upgrade(d, { origin: s.origin, path: '/up', protocol: 'foo' });
      return { headers: stableHeaders(headers), echoed: await echoThrough(socket) };
    });
    expect(r.undici).toMatchObject({ ok: true, value: { echoed: 'ping' } });
    expect(r.ridethrough).toEqual(r.undici);
  });

  it('upgrade() to an HTTP/2 server: undici refuses a custom upgrade over h2', async () => {
    const s = await server({ address: HTTPS, protocol: 'https' });
    const r = await both({ ...base(), connect: { ca: cert.cert } }, async (d) => {
      const { socket } = await upgrade(d, { origin: s.origin, path: '/up', protocol: 'foo' });
      return echoThrough(socket);
    });
    expect(r.ridethrough).toEqual(r.undici);
  });

  it('connect() (CONNECT, HTTP/1.1)', async () => {
    const s = await server({ address: HTTP, protocol: 'http' });
    const r = await both(base(), async (d) => {
      const { statusCode, headers, socket } = await d.connect({ origin: s.origin, path: 'target.example:443' });
      return { statusCode, headers: stableHeaders(headers), echoed: await echoThrough(socket) };
    });
    expect(r.undici).toMatchObject({ ok: true, value: { statusCode: 200, echoed: 'ping' } });
    expect(r.ridethrough).toEqual(r.undici);
    expect(s.log.tunnels).toEqual(['connect:target.example:443', 'connect:target.example:443']);
  });

  it('a composed interceptor (undici’s redirect)', async () => {
    const s = await server({ address: HTTP, protocol: 'http' });
    const r = await both(base(), async (d) => get(d.compose(interceptors.redirect({ maxRedirections: 2 })), `${s.origin}/redirect`));
    expect(r.undici).toMatchObject({ ok: true, value: { status: 200, body: { url: '/echo/redirected' } } });
    expect(r.ridethrough).toEqual(r.undici);
  });
});

describe('fetch', () => {
  it('undici fetch: GET, POST, redirect', async () => {
    const s = await server({ address: HTTP, protocol: 'http' });
    const r = await both(base(), async (d) => [
      await fetched((await undiciFetch(`${s.origin}/echo`, { dispatcher: d })) as unknown as Response),
      await fetched((await undiciFetch(`${s.origin}/echo`, { method: 'POST', body: 'posted', dispatcher: d })) as unknown as Response),
      await fetched((await undiciFetch(`${s.origin}/redirect`, { dispatcher: d })) as unknown as Response),
    ]);
    expect(r.undici.ok).toBe(true);
    expect(r.ridethrough).toEqual(r.undici);
  });

  it('undici fetch over HTTP/2', async () => {
    const s = await server({ address: HTTPS, protocol: 'https' });
    const r = await both({ ...base(), connect: { ca: cert.cert } }, async (d) => [
      await fetched((await undiciFetch(`${s.origin}/echo`, { dispatcher: d })) as unknown as Response),
      await fetched((await undiciFetch(`${s.origin}/echo`, { method: 'POST', body: 'over h2', dispatcher: d })) as unknown as Response),
    ]);
    expect(r.undici).toMatchObject({ ok: true, value: [{ body: { httpVersion: '2.0' } }, { body: { httpVersion: '2.0', body: 'over h2' } }] });
    expect(r.ridethrough).toEqual(r.undici);
  });

  it(`Node's fetch: GET, POST, redirect (Node ${process.versions.node})`, async () => {
    const s = await server({ address: HTTP, protocol: 'http' });
    const r = await both(base(), async (d, kind) => [
      await fetched(await builtinFetch(`${s.origin}/echo`, { dispatcher: forBuiltinFetch(kind, d) })),
      await fetched(await builtinFetch(`${s.origin}/echo`, { method: 'POST', body: 'posted', dispatcher: forBuiltinFetch(kind, d) })),
      await fetched(await builtinFetch(`${s.origin}/redirect`, { dispatcher: forBuiltinFetch(kind, d) })),
    ]);
    expect(r.undici.ok).toBe(true);
    expect(r.ridethrough).toEqual(r.undici);
  });

  it(`Node's fetch over HTTP/2 (on Node 22/24, undici's Dispatcher1Wrapper sends it over HTTP/1.1; ridethrough keeps HTTP/2)`, async () => {
    const s = await server({ address: HTTPS, protocol: 'https' });
    const r = await both({ ...base(), connect: { ca: cert.cert } }, async (d, kind) =>
      fetched(await builtinFetch(`${s.origin}/echo`, { dispatcher: forBuiltinFetch(kind, d) })),
    );
    const legacy = Number(process.versions.node.split('.')[0]) < 26;
    expect(r.undici).toMatchObject({ ok: true, value: { body: { httpVersion: legacy ? '1.1' : '2.0' } } });
    expect(r.ridethrough).toMatchObject({ ok: true, value: { status: 200, body: { httpVersion: '2.0', method: 'GET', url: '/echo' } } });
    if (!legacy) expect(r.ridethrough).toEqual(r.undici);
  });
});

describe('WebSocket and EventSource', () => {
  it('undici WebSocket over HTTP/1.1', async () => {
    const s = await server({ address: HTTP, protocol: 'http' });
    const r = await both(base(), (d) => webSocketExchange(WebSocket as never, `${s.origin.replace('http', 'ws')}/ws`, { dispatcher: d }, ['one', 'two']));
    expect(r.undici).toEqual({ ok: true, value: ['open', 'message:one', 'message:two', 'close:1000'] });
    expect(r.ridethrough).toEqual(r.undici);
  });

  it('undici WebSocket to a TLS server offering h2 and http/1.1, without RFC 8441 (falls back to HTTP/1.1)', async () => {
    const s = await server({ address: HTTPS, protocol: 'https' });
    const r = await both({ ...base(), connect: { ca: cert.cert } }, (d) =>
      webSocketExchange(WebSocket as never, `${s.origin.replace('https', 'wss')}/ws`, { dispatcher: d }, ['one']),
    );
    expect(r.undici).toEqual({ ok: true, value: ['open', 'message:one', 'close:1000'] });
    expect(r.ridethrough).toEqual(r.undici);
    expect(s.log.tunnels).toEqual(['websocket/1.1', 'websocket/1.1']);
  });

  it('undici WebSocket to a TLS server with RFC 8441 (WebSocket over HTTP/2)', async () => {
    const s = await server({ address: HTTPS, protocol: 'https', h2WebSocket: true });
    const r = await both({ ...base(), connect: { ca: cert.cert } }, (d) =>
      webSocketExchange(WebSocket as never, `${s.origin.replace('https', 'wss')}/ws`, { dispatcher: d }, ['one']),
    );
    expect(r.undici).toEqual({ ok: true, value: ['open', 'message:one', 'close:1000'] });
    expect(r.ridethrough).toEqual(r.undici);
    expect(s.log.tunnels).toEqual(['websocket/2', 'websocket/2']);
  });

  it(`Node's WebSocket over HTTP/1.1 (Node ${process.versions.node})`, async () => {
    const s = await server({ address: HTTP, protocol: 'http' });
    const r = await both(base(), (d, kind) =>
      webSocketExchange(BuiltinWebSocket, `${s.origin.replace('http', 'ws')}/ws`, { dispatcher: forBuiltinFetch(kind, d) }, ['one']),
    );
    expect(r.undici).toEqual({ ok: true, value: ['open', 'message:one', 'close:1000'] });
    expect(r.ridethrough).toEqual(r.undici);
  });

  it(`Node's WebSocket to a TLS server offering h2 and http/1.1, without RFC 8441 (Node ${process.versions.node})`, async () => {
    const s = await server({ address: HTTPS, protocol: 'https' });
    const r = await both({ ...base(), connect: { ca: cert.cert } }, (d, kind) =>
      webSocketExchange(BuiltinWebSocket, `${s.origin.replace('https', 'wss')}/ws`, { dispatcher: forBuiltinFetch(kind, d) }, ['one']),
    );
    expect(r.undici).toEqual({ ok: true, value: ['open', 'message:one', 'close:1000'] });
    expect(r.ridethrough).toEqual(r.undici);
    expect(s.log.tunnels).toEqual(['websocket/1.1', 'websocket/1.1']);
  });

  it('undici EventSource', async () => {
    const s = await server({ address: HTTP, protocol: 'http' });
    const r = await both(base(), (d) => eventSourceExchange(EventSource as never, `${s.origin}/sse/5`, { dispatcher: d }, 2));
    expect(r.undici).toEqual({ ok: true, value: ['open', 'message:hello', 'message:xxxxx'] });
    expect(r.ridethrough).toEqual(r.undici);
  });
});

describe('HTTP/2', () => {
  it('request() over h2: GET and a streamed POST', async () => {
    const s = await server({ address: HTTPS, protocol: 'https' });
    const r = await both({ ...base(), connect: { ca: cert.cert } }, async (d) => {
      const body = new PassThrough();
      body.end('streamed over h2');
      return [await get(d, `${s.origin}/echo`), await get(d, `${s.origin}/echo`, { method: 'POST', body })];
    });
    expect(r.undici).toMatchObject({ ok: true, value: [{ body: { httpVersion: '2.0' } }, { body: { body: 'streamed over h2' } }] });
    expect(r.ridethrough).toEqual(r.undici);
  });

  it('allowH2: false in the dispatch options: that request goes over HTTP/1.1', async () => {
    const s = await server({ address: HTTPS, protocol: 'https' });
    const r = await both({ ...base(), connect: { ca: cert.cert } }, async (d) => {
      const h2 = await d.request({ origin: s.origin, path: '/echo', method: 'GET' });
      const h1 = await d.request({ origin: s.origin, path: '/echo', method: 'GET', allowH2: false } as Dispatcher.RequestOptions);
      return [((await h2.body.json()) as { httpVersion: string }).httpVersion, ((await h1.body.json()) as { httpVersion: string }).httpVersion];
    });
    expect(r.undici).toEqual({ ok: true, value: ['2.0', '1.1'] });
    expect(r.ridethrough).toEqual(r.undici);
  });
});

describe('the dispatcher itself', () => {
  it('closed and destroyed; a request while closing, after close or after destroy fails with undici’s error', async () => {
    const s = await server({ address: HTTP, protocol: 'http' });
    const step = (p: Promise<unknown>): Promise<unknown> =>
      p.then(
        (v) => (v && typeof v === 'object' && 'status' in v ? (v as { status: number }).status : 'done'),
        (err: Error & { code?: string }) => `${err.constructor.name} ${err.code} ${err.message}`,
      );
    const r = await both(base(), async (d) => {
      const flags = d as unknown as { closed: boolean; destroyed: boolean };
      const seen: unknown[] = [[flags.closed, flags.destroyed]];
      seen.push(await step(get(d, `${s.origin}/echo`)));
      const closing = d.close();
      seen.push([flags.closed, flags.destroyed]);
      seen.push(await step(get(d, `${s.origin}/echo`)));
      seen.push(await step(closing));
      seen.push([flags.closed, flags.destroyed]);
      seen.push(await step(get(d, `${s.origin}/echo`)));
      seen.push(await step(d.close()));
      seen.push(await step(d.destroy()));
      seen.push(await step(d.destroy()));
      seen.push([flags.closed, flags.destroyed]);
      return seen;
    });
    expect(r.undici.ok).toBe(true);
    expect(r.ridethrough).toEqual(r.undici);
  });

  it('destroy() fails a request in flight with undici’s error', async () => {
    const s = await server({ address: HTTP, protocol: 'http' });
    const r = await both(base(), async (d) => {
      const pending = get(d, `${s.origin}/hold`).catch((err: Error & { code?: string }) => `${err.constructor.name} ${err.code} ${err.message}`);
      await new Promise((resolve) => setTimeout(resolve, 100));
      await d.destroy();
      return pending;
    });
    expect(r.undici.ok).toBe(true);
    expect(r.ridethrough).toEqual(r.undici);
  });

  it('close() waits for a request in flight; callbacks', async () => {
    const s = await server({ address: HTTP, protocol: 'http' });
    const r = await both(base(), async (d) => {
      const pending = get(d, `${s.origin}/slow-headers/200`);
      await new Promise((resolve) => setTimeout(resolve, 50));
      const closed = new Promise<string>((resolve) => d.close(() => resolve('close callback')));
      return [(await pending).status, await closed, await new Promise<string>((resolve) => d.destroy(() => resolve('destroy callback')))];
    });
    expect(r.undici).toEqual({ ok: true, value: [200, 'close callback', 'destroy callback'] });
    expect(r.ridethrough).toEqual(r.undici);
  });

  it("the 'connect' and 'disconnect' events: the origin and the dispatchers behind it", async () => {
    const s = await server({ address: HTTP, protocol: 'http' });
    const r = await both({ ...base(), keepAliveTimeout: 100 }, async (d) => {
      const events: string[] = [];
      d.on('connect', (origin, targets) => events.push(`connect ${String(origin)} ${targets.length} ${targets[0] === d}`));
      d.on('disconnect', (origin, targets) => events.push(`disconnect ${String(origin)} ${targets.length} ${targets[0] === d}`));
      await get(d, `${s.origin}/echo`);
      await new Promise((resolve) => setTimeout(resolve, 600));
      return events;
    });
    expect(r.undici.ok).toBe(true);
    expect(r.ridethrough).toEqual(r.undici);
  });

  it('webSocketOptions and eventSourceOptions', async () => {
    const r = await both({ ...base(), webSocket: { maxPayloadSize: 1_000 } }, async (d) => {
      const o = d as unknown as { webSocketOptions: unknown; eventSourceOptions: unknown };
      return [o.webSocketOptions, o.eventSourceOptions];
    });
    expect(r.undici.ok).toBe(true);
    expect(r.ridethrough).toEqual(r.undici);
  });
});

describe('an undici Agent composed with resilience(), against the same Agent alone', () => {
  const composed = (options: object) => () => new Agent(options).compose(resilience({ dns: base().dns, maxAttempts: 1 }));

  it('an invalid option to a host name nobody published: undici’s error, no DNS query', async () => {
    const call = async (d: Dispatcher): Promise<unknown> =>
      d.request({ origin: 'http://unpublished.compat.test', path: '/', method: 'GET', expectContinue: 'yes' } as never);
    const undici = await run('undici', base(), call);
    const ridethrough = await runWith(composed(base()), call);
    expect(undici).toMatchObject({ ok: false, error: { class: 'InvalidArgumentError', message: 'invalid expectContinue' } });
    expect(ridethrough).toEqual(undici);
  });

  it("Node's global FormData is sent as an undici FormData", async () => {
    const s = await server({ address: HTTP, protocol: 'http' });
    const form = (F: typeof FormData): FormData => {
      const f = new F();
      f.append('field', 'value');
      return f;
    };
    const undici = await run(
      'undici',
      base(),
      async (d) =>
        (await get(d, `${s.origin}/echo`, { method: 'POST', body: form((await import('undici')).FormData as unknown as typeof FormData) as never })).body,
    );
    const ridethrough = await runWith(
      composed(base()),
      async (d) => (await get(d, `${s.origin}/echo`, { method: 'POST', body: form(globalThis.FormData) as never })).body,
    );
    expect(undici.ok).toBe(true);
    expect(ridethrough).toEqual(undici);
  });

  it('undici WebSocket to a TLS server offering h2 and http/1.1, without RFC 8441', async () => {
    const s = await server({ address: HTTPS, protocol: 'https' });
    const options = { ...base(), connect: { ca: cert.cert } };
    const call = (d: Dispatcher): Promise<unknown> =>
      webSocketExchange(WebSocket as never, `${s.origin.replace('https', 'wss')}/ws`, { dispatcher: d }, ['one']);
    const undici = await run('undici', options, call);
    const ridethrough = await runWith(composed(options), call);
    expect(undici).toEqual({ ok: true, value: ['open', 'message:one', 'close:1000'] });
    expect(ridethrough).toEqual(undici);
  });
});
