/**
 * Every undici Agent/Pool/Client option, given to undici's `Agent` and to `ResilientAgent` in the same
 * options object, against the same real loopback servers: the outcome (status, headers, body, what
 * reached the server, or the error's class, code and message) must be the same. Valid values show
 * that the option reached the per-endpoint pools; invalid ones that it is validated as undici validates
 * it. Real parts only, on 127.0.150.x.
 */
import net from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { Pool, WebSocket, EventSource, buildConnector, request, type Dispatcher } from 'undici';
import { describe, expect, it } from 'vitest';
import { ResilientAgent } from '../../src/index.js';
import { both, type Kind } from './support/compare.js';
import { allClosedWithin, eventSourceExchange, get, webSocketExchange } from './support/calls.js';
import { useCompatScope } from './support/scope.js';

const HTTP = '127.0.150.1';
const HTTPS = '127.0.150.2';
const { base, server, cert, dns, defer } = useCompatScope('127.0.150.53', HTTPS);

/** An https origin whose TCP connects succeed and whose TLS handshake never completes. */
async function silentTls(): Promise<string> {
  const sockets = new Set<net.Socket>();
  const s = net.createServer((socket) => {
    sockets.add(socket);
    socket.on('error', () => {});
  });
  await new Promise<void>((resolve) => s.listen(0, '127.0.150.3', () => resolve()));
  defer(
    () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy();
        s.close(() => resolve());
      }),
  );
  return `https://127.0.150.3:${(s.address() as net.AddressInfo).port}`;
}

/** Runs `n` requests at once; returns their statuses. */
async function concurrent(d: Dispatcher, url: string, n: number): Promise<number[]> {
  return Promise.all(Array.from({ length: n }, async () => (await get(d, url)).status));
}

describe('connection options reach every endpoint pool', () => {
  it('connect (object): TLS settings', async () => {
    const s = await server({ address: HTTPS, protocol: 'https' });
    const r = await both({ ...base(), connect: { ca: cert.cert } }, async (d) => get(d, `${s.origin}/echo`));
    expect(r.undici.ok).toBe(true);
    expect(r.ridethrough).toEqual(r.undici);
  });

  it('connect (object): rejectUnauthorized false', async () => {
    const s = await server({ address: HTTPS, protocol: 'https' });
    const r = await both({ ...base(), connect: { rejectUnauthorized: false } }, async (d) => get(d, `${s.origin}/echo`));
    expect(r.undici.ok).toBe(true);
    expect(r.ridethrough).toEqual(r.undici);
  });

  it('connect (object) without the CA: the same certificate error', async () => {
    const s = await server({ address: HTTPS, protocol: 'https' });
    const r = await both({ ...base(), connect: { timeout: 2_000 } }, async (d) => get(d, `${s.origin}/echo`));
    expect(r.undici.ok).toBe(false);
    expect(r.ridethrough).toEqual(r.undici);
  });

  it('connect (function): the connector is called and connects', async () => {
    const s = await server({ address: HTTP, protocol: 'http' });
    const calls: Record<Kind, string[]> = { undici: [], ridethrough: [] };
    let current: Kind = 'undici';
    const inner = buildConnector({});
    const options = {
      ...base(),
      connect: ((opts, cb) => {
        calls[current].push(opts.hostname);
        inner(opts, cb);
      }) as buildConnector.connector,
    };
    const r = await both(options, async (d, kind) => {
      current = kind;
      return get(d, `${s.origin}/echo`);
    });
    expect(r.undici.ok).toBe(true);
    expect(r.ridethrough).toEqual(r.undici);
    expect(calls.ridethrough).toEqual(calls.undici);
    expect(calls.undici).toEqual([HTTP]);
  });

  it('connect.timeout: a TLS handshake that never completes fails with its timeout', async () => {
    const origin = await silentTls();
    const r = await both({ ...base(), maxAttempts: 1, connect: { timeout: 250 } }, async (d) => get(d, `${origin}/`), { unwrapGiveUp: true });
    expect(r.undici).toMatchObject({ ok: false, error: { code: 'UND_ERR_CONNECT_TIMEOUT' } });
    expect(r.undici.ok || r.undici.error.message).toContain('timeout: 250ms');
    expect(r.ridethrough).toEqual(r.undici);
  });

  it('connectTimeout: the same', async () => {
    const origin = await silentTls();
    const r = await both({ ...base(), maxAttempts: 1, connectTimeout: 300 }, async (d) => get(d, `${origin}/`), { unwrapGiveUp: true });
    expect(r.undici.ok || r.undici.error.message).toContain('timeout: 300ms');
    expect(r.ridethrough).toEqual(r.undici);
  });

  it('connections: 1 (one connection, requests wait their turn)', async () => {
    const s = await server({ address: HTTP, protocol: 'http' });
    const r = await both({ ...base(), connections: 1 }, async (d) => {
      const statuses = await concurrent(d, `${s.origin}/slow-headers/100`, 3);
      const seen = { statuses, connections: s.log.connections, maxInFlight: s.log.maxInFlight };
      s.log.connections = 0;
      s.log.maxInFlight = 0;
      return seen;
    });
    expect(r.undici).toEqual({ ok: true, value: { statuses: [200, 200, 200], connections: 1, maxInFlight: 1 } });
    expect(r.ridethrough).toEqual(r.undici);
  });

  it('stats: keyed by origin, with the pool counters (connected, free, pending, queued, running, size)', async () => {
    const s = await server({ address: HTTP, protocol: 'http' });
    const pick = (stats: unknown): unknown =>
      Object.fromEntries(
        Object.entries(stats as Record<string, Record<string, number>>).map(([origin, o]) => [
          origin,
          { connected: o.connected, free: o.free, pending: o.pending, queued: o.queued, running: o.running, size: o.size },
        ]),
      );
    const r = await both({ ...base(), connections: 2 }, async (d) => {
      const done = concurrent(d, `${s.origin}/slow-headers/200`, 3);
      await sleep(100);
      const during = pick((d as unknown as { stats: unknown }).stats);
      await done;
      return { during, after: pick((d as unknown as { stats: unknown }).stats) };
    });
    expect(r.undici.ok).toBe(true);
    expect(r.ridethrough).toEqual(r.undici);
  });

  it('pipelining: 3 (three requests on one connection at once)', async () => {
    const s = await server({ address: HTTP, protocol: 'http' });
    const r = await both({ ...base(), connections: 1, pipelining: 3 }, async (d) => {
      const statuses = await concurrent(d, `${s.origin}/slow-headers/100`, 3);
      const seen = { statuses, connections: s.log.connections, maxInFlight: s.log.maxInFlight };
      s.log.connections = 0;
      s.log.maxInFlight = 0;
      return seen;
    });
    expect(r.undici.ok).toBe(true);
    expect(r.ridethrough).toEqual(r.undici);
  });

  // Each closes the idle connection within 2.5 s; the server's keep-alive hint is 0 (none) or 60 s.
  const idleCases: [name: string, serverKeepAlive: number, options: Record<string, number>, path: string][] = [
    ['keepAliveTimeout: 100 (the idle connection closes)', 0, { keepAliveTimeout: 100 }, '/echo'],
    ['keepAliveMaxTimeout: 100 caps a server hint of 60 s', 60_000, { keepAliveMaxTimeout: 100 }, '/keepalive/60'],
    ['keepAliveTimeoutThreshold: 59900 takes a 60 s hint down to 100 ms', 60_000, { keepAliveTimeoutThreshold: 59_900 }, '/keepalive/60'],
  ];
  for (const [name, serverKeepAlive, options, path] of idleCases) {
    it(name, async () => {
      const s = await server({ address: HTTP, protocol: 'http', keepAliveTimeout: serverKeepAlive });
      const r = await both({ ...base(), ...options }, async (d) => {
        await get(d, `${s.origin}${path}`);
        return allClosedWithin(s.log, 2_500);
      });
      expect(r.undici).toEqual({ ok: true, value: true });
      expect(r.ridethrough).toEqual(r.undici);
    });
  }

  it('headersTimeout: 200 (a response slower than that fails with a headers timeout)', async () => {
    const s = await server({ address: HTTP, protocol: 'http' });
    const r = await both({ ...base(), maxAttempts: 1, headersTimeout: 200 }, async (d) => {
      const t0 = performance.now();
      try {
        await get(d, `${s.origin}/slow-headers/3000`);
        return 'answered';
      } catch (err) {
        // ridethrough's attempt timer words its message itself (docs/compatibility.md).
        const cause = (err as { cause?: { code?: string; constructor: { name: string } } }).cause;
        const e = (err as { code?: string }).code?.startsWith('RIDETHROUGH') ? cause : (err as { code?: string; constructor: { name: string } });
        return { class: e?.constructor.name, code: e?.code, fast: performance.now() - t0 < 2_000 };
      }
    });
    expect(r.undici).toEqual({ ok: true, value: { class: 'HeadersTimeoutError', code: 'UND_ERR_HEADERS_TIMEOUT', fast: true } });
    expect(r.ridethrough).toEqual(r.undici);
  });

  it('bodyTimeout: 200 (a body that stalls fails with a body timeout)', async () => {
    const s = await server({ address: HTTP, protocol: 'http' });
    const r = await both({ ...base(), bodyTimeout: 200 }, async (d) => get(d, `${s.origin}/slow-body/3000`));
    expect(r.undici).toMatchObject({ ok: false, error: { code: 'UND_ERR_BODY_TIMEOUT' } });
    expect(r.ridethrough).toEqual(r.undici);
  });

  it('maxHeaderSize: 1000', async () => {
    const s = await server({ address: HTTP, protocol: 'http' });
    const r = await both({ ...base(), maxHeaderSize: 1_000 }, async (d) => get(d, `${s.origin}/big-header/5000`));
    expect(r.undici).toMatchObject({ ok: false, error: { code: 'UND_ERR_HEADERS_OVERFLOW' } });
    expect(r.ridethrough).toEqual(r.undici);
  });

  it('maxResponseSize: 100', async () => {
    const s = await server({ address: HTTP, protocol: 'http' });
    const r = await both({ ...base(), maxResponseSize: 100 }, async (d) => get(d, `${s.origin}/big-body/1000`));
    expect(r.undici).toMatchObject({ ok: false, error: { code: 'UND_ERR_RES_EXCEEDED_MAX_SIZE' } });
    expect(r.ridethrough).toEqual(r.undici);
  });

  it('allowH2 (default): HTTP/2 with a server that offers h2 and http/1.1', async () => {
    const s = await server({ address: HTTPS, protocol: 'https' });
    const r = await both(
      { ...base(), connect: { ca: cert.cert } },
      async (d) => ((await get(d, `${s.origin}/echo`)).body as { httpVersion: string }).httpVersion,
    );
    expect(r.undici).toEqual({ ok: true, value: '2.0' });
    expect(r.ridethrough).toEqual(r.undici);
  });

  it('allowH2: false: HTTP/1.1 with the same server', async () => {
    const s = await server({ address: HTTPS, protocol: 'https' });
    const r = await both(
      { ...base(), allowH2: false, connect: { ca: cert.cert } },
      async (d) => ((await get(d, `${s.origin}/echo`)).body as { httpVersion: string }).httpVersion,
    );
    expect(r.undici).toEqual({ ok: true, value: '1.1' });
    expect(r.ridethrough).toEqual(r.undici);
  });

  it('maxConcurrentStreams: 1 (HTTP/2)', async () => {
    const s = await server({ address: HTTPS, protocol: 'https' });
    const r = await both({ ...base(), maxConcurrentStreams: 1, connect: { ca: cert.cert } }, async (d) => {
      const statuses = await concurrent(d, `${s.origin}/slow-headers/100`, 3);
      const seen = { statuses, maxInFlight: s.log.maxInFlight };
      s.log.maxInFlight = 0;
      return seen;
    });
    expect(r.undici.ok).toBe(true);
    expect(r.ridethrough).toEqual(r.undici);
  });

  it('h2Options, initialWindowSize, connectionWindowSize, pingInterval (HTTP/2 tuning)', async () => {
    const s = await server({ address: HTTPS, protocol: 'https' });
    const options = {
      ...base(),
      connect: { ca: cert.cert },
      h2Options: { maxConcurrentStreams: 2, pingInterval: 0 },
      initialWindowSize: 100_000,
      connectionWindowSize: 200_000,
    };
    const r = await both(options, async (d) => (await get(d, `${s.origin}/big-body/300000`)).status);
    expect(r.undici).toEqual({ ok: true, value: 200 });
    expect(r.ridethrough).toEqual(r.undici);
  });

  it('localAddress: the connection comes from that address', async () => {
    const s = await server({ address: HTTP, protocol: 'http' });
    const r = await both({ ...base(), localAddress: '127.0.150.77' }, async (d) => {
      await get(d, `${s.origin}/echo`);
      return s.log.requests.at(-1)?.remoteAddress;
    });
    expect(r.undici).toEqual({ ok: true, value: '127.0.150.77' });
    expect(r.ridethrough).toEqual(r.undici);
  });

  it('autoSelectFamily and autoSelectFamilyAttemptTimeout', async () => {
    const s = await server({ address: HTTP, protocol: 'http' });
    const r = await both({ ...base(), autoSelectFamily: true, autoSelectFamilyAttemptTimeout: 100 }, async (d) => get(d, `${s.origin}/echo`));
    expect(r.undici.ok).toBe(true);
    expect(r.ridethrough).toEqual(r.undici);
  });

  it('strictContentLength (default true): a content-length that does not match the body fails', async () => {
    const s = await server({ address: HTTP, protocol: 'http' });
    const r = await both({ ...base(), maxAttempts: 1 }, async (d) =>
      get(d, `${s.origin}/echo`, { method: 'POST', body: 'abc', headers: { 'content-length': '2' } }),
    );
    expect(r.undici).toMatchObject({ ok: false, error: { code: 'UND_ERR_REQ_CONTENT_LENGTH_MISMATCH' } });
    expect(r.ridethrough).toEqual(r.undici);
  });

  it('strictContentLength: false sends it anyway', async () => {
    const s = await server({ address: HTTP, protocol: 'http' });
    const r = await both({ ...base(), strictContentLength: false }, async (d) =>
      get(d, `${s.origin}/echo`, { method: 'POST', body: 'abc', headers: { 'content-length': '3', 'x-a': 'b' }, reset: true }),
    );
    expect(r.undici.ok).toBe(true);
    expect(r.ridethrough).toEqual(r.undici);
  });

  it('clientTtl: 100 (a connection older than that is not reused)', async () => {
    const s = await server({ address: HTTP, protocol: 'http' });
    const r = await both({ ...base(), clientTtl: 100 }, async (d) => {
      await get(d, `${s.origin}/echo`);
      await sleep(300);
      await get(d, `${s.origin}/echo`);
      const n = s.log.connections;
      s.log.connections = 0;
      return n;
    });
    expect(r.undici).toEqual({ ok: true, value: 2 });
    expect(r.ridethrough).toEqual(r.undici);
  });

  it('maxRequestsPerClient: 1 (a connection per request)', async () => {
    const s = await server({ address: HTTP, protocol: 'http' });
    const r = await both({ ...base(), maxRequestsPerClient: 1 }, async (d) => {
      await get(d, `${s.origin}/echo`);
      await get(d, `${s.origin}/echo`);
      const n = s.log.connections;
      s.log.connections = 0;
      return n;
    });
    expect(r.undici).toEqual({ ok: true, value: 2 });
    expect(r.ridethrough).toEqual(r.undici);
  });

  it('maxOrigins: 1 (a second origin is refused while the first is connected)', async () => {
    const a = await server({ address: HTTP, protocol: 'http' });
    const b = await server({ address: '127.0.150.4', protocol: 'http' });
    const r = await both({ ...base(), maxOrigins: 1 }, async (d) => {
      const first = (await get(d, `${a.origin}/echo`)).status;
      const second = await get(d, `${b.origin}/echo`).then(
        (x) => x.status,
        (err: Error & { code?: string }) => `${err.constructor.name} ${err.code} ${err.message}`,
      );
      return [first, second];
    });
    expect(r.undici).toEqual({ ok: true, value: [200, 'MaxOriginsReachedError UND_ERR_MAX_ORIGINS_REACHED Maximum allowed origins reached'] });
    expect(r.ridethrough).toEqual(r.undici);
  });

  it('socketPath: every request goes to the Unix socket', async () => {
    const path = `/tmp/rt-compat-${process.pid}.sock`;
    await server({ address: HTTP, protocol: 'http', socketPath: path });
    const r = await both({ ...base(), socketPath: path }, async (d) => ((await get(d, `http://${HTTP}:1/echo`)).body as { url: string }).url);
    expect(r.undici).toEqual({ ok: true, value: '/echo' });
    expect(r.ridethrough).toEqual(r.undici);
  });

  it('maxCachedSessions: 0', async () => {
    const s = await server({ address: HTTPS, protocol: 'https' });
    const r = await both({ ...base(), maxCachedSessions: 0, connect: { ca: cert.cert } }, async (d) => (await get(d, `${s.origin}/echo`)).status);
    expect(r.undici).toEqual({ ok: true, value: 200 });
    expect(r.ridethrough).toEqual(r.undici);
  });

  it('tls (undici Agent key, merged into the connector options)', async () => {
    const s = await server({ address: HTTPS, protocol: 'https' });
    const r = await both({ ...base(), tls: { ca: cert.cert } }, async (d) => (await get(d, `${s.origin}/echo`)).status);
    expect(r.undici).toEqual({ ok: true, value: 200 });
    expect(r.ridethrough).toEqual(r.undici);
  });

  it('factory: makes the per-origin (per-endpoint) dispatcher', async () => {
    const s = await server({ address: HTTP, protocol: 'http' });
    const made: Record<Kind, string[]> = { undici: [], ridethrough: [] };
    let current: Kind = 'undici';
    const factory = (origin: string | URL, opts: object): Dispatcher => {
      made[current].push(String(origin));
      return new Pool(origin, opts);
    };
    const r = await both({ ...base(), factory }, async (d, kind) => {
      current = kind;
      return get(d, `${s.origin}/echo`);
    });
    expect(r.undici.ok).toBe(true);
    expect(r.ridethrough).toEqual(r.undici);
    expect(made.ridethrough).toEqual(made.undici);
  });

  it('interceptors (an undici 6 key undici 8 ignores)', async () => {
    const s = await server({ address: HTTP, protocol: 'http' });
    const r = await both({ ...base(), interceptors: { Agent: [] } }, async (d) => (await get(d, `${s.origin}/echo`)).status);
    expect(r.undici).toEqual({ ok: true, value: 200 });
    expect(r.ridethrough).toEqual(r.undici);
  });

  it('webSocket.maxPayloadSize: a larger message closes the WebSocket', async () => {
    const s = await server({ address: HTTP, protocol: 'http' });
    const r = await both({ ...base(), webSocket: { maxPayloadSize: 100 } }, async (d) =>
      webSocketExchange(WebSocket as never, `${s.origin.replace('http', 'ws')}/ws`, { dispatcher: d }, ['small', 'big:1000']),
    );
    expect(r.undici).toEqual({ ok: true, value: ['open', 'message:small', 'error', 'close:1006'] });
    expect(r.ridethrough).toEqual(r.undici);
  });

  it('eventSource.maxEventSize: a larger event fails the stream', async () => {
    const s = await server({ address: HTTP, protocol: 'http' });
    const r = await both({ ...base(), eventSource: { maxEventSize: 50 } }, async (d) =>
      eventSourceExchange(EventSource as never, `${s.origin}/sse/1000`, { dispatcher: d }, 2),
    );
    expect(r.undici.ok).toBe(true);
    expect(r.ridethrough).toEqual(r.undici);
  });
});

describe('invalid options fail with undici’s own error', () => {
  const cases: [string, Record<string, unknown>][] = [
    ['factory', { factory: 1 }],
    ['connect', { connect: 1 }],
    ['maxOrigins', { maxOrigins: 0 }],
    ['connections', { connections: -1 }],
    ['maxCachedSessions', { maxCachedSessions: -1 }],
    ['keepAlive (removed)', { keepAlive: true }],
    ['socketTimeout (removed)', { socketTimeout: 1 }],
    ['requestTimeout (removed)', { requestTimeout: 1 }],
    ['idleTimeout (removed)', { idleTimeout: 1 }],
    ['maxKeepAliveTimeout (removed)', { maxKeepAliveTimeout: 1 }],
    ['maxHeaderSize', { maxHeaderSize: 0 }],
    ['socketPath', { socketPath: 1 }],
    ['keepAliveMaxTimeout', { keepAliveMaxTimeout: 0 }],
    ['keepAliveTimeoutThreshold', { keepAliveTimeoutThreshold: 'x' }],
    ['headersTimeout', { headersTimeout: -1 }],
    ['bodyTimeout', { bodyTimeout: 1.5 }],
    ['maxRequestsPerClient', { maxRequestsPerClient: -1 }],
    ['localAddress', { localAddress: 'nowhere' }],
    ['maxResponseSize', { maxResponseSize: -2 }],
    ['allowH2', { allowH2: 'yes' }],
    ['useH2c', { useH2c: 'yes' }],
    ['maxConcurrentStreams', { maxConcurrentStreams: 0 }],
    ['initialWindowSize', { initialWindowSize: 0 }],
    ['connectionWindowSize', { connectionWindowSize: 0 }],
    ['pingInterval', { pingInterval: -1 }],
    ['h2Options.useH2c', { h2Options: { useH2c: 'yes' } }],
    ['h2Options.settings.initialWindowSize', { h2Options: { settings: { initialWindowSize: 0 } } }],
    ['h2Options.maxConcurrentStreams', { h2Options: { maxConcurrentStreams: 0 } }],
    ['h2Options.connectionWindowSize', { h2Options: { connectionWindowSize: 0 } }],
    ['h2Options.pingInterval', { h2Options: { pingInterval: -1 } }],
  ];
  for (const [name, options] of cases) {
    it(name, async () => {
      const s = await server({ address: HTTP, protocol: 'http' });
      const r = await both({ ...base(), ...options }, async (d) => get(d, `${s.origin}/echo`));
      expect(r.undici).toMatchObject({ ok: false, error: { class: 'InvalidArgumentError', code: 'UND_ERR_INVALID_ARG' } });
      expect(r.ridethrough).toEqual(r.undici);
      expect(s.log.connections).toBe(0);
    });
  }

  it('a value undici’s Agent does not check (its Pool keeps it from its clients): autoSelectFamilyAttemptTimeout -2', async () => {
    const s = await server({ address: HTTP, protocol: 'http' });
    const r = await both({ ...base(), autoSelectFamilyAttemptTimeout: -2 }, async (d) => (await get(d, `${s.origin}/echo`)).status);
    expect(r.undici).toEqual({ ok: true, value: 200 });
    expect(r.ridethrough).toEqual(r.undici);
  });

  it('the same value with connections: 1 (undici’s Agent then makes a Client, which checks it)', async () => {
    const s = await server({ address: HTTP, protocol: 'http' });
    const r = await both({ ...base(), connections: 1, autoSelectFamilyAttemptTimeout: -2 }, async (d) => (await get(d, `${s.origin}/echo`)).status);
    expect(r.undici).toMatchObject({
      ok: false,
      error: { class: 'InvalidArgumentError', message: 'autoSelectFamilyAttemptTimeout must be a positive number' },
    });
    expect(r.ridethrough).toEqual(r.undici);
  });

  it('a value JSON drops (undici clones the options through JSON): headersTimeout NaN is no value', async () => {
    const s = await server({ address: HTTP, protocol: 'http' });
    const r = await both({ ...base(), headersTimeout: Number.NaN }, async (d) => (await get(d, `${s.origin}/echo`)).status);
    expect(r.undici).toEqual({ ok: true, value: 200 });
    expect(r.ridethrough).toEqual(r.undici);
  });
});

describe('the options undici and ridethrough share by name are ridethrough’s: its ranges and errors (a deliberate difference)', () => {
  const cases: [string, Record<string, unknown>][] = [
    ['connectTimeout: 0 (undici: no connect timeout)', { connectTimeout: 0 }],
    ['connectTimeout: -1 (undici does not check it)', { connectTimeout: -1 }],
    ['keepAliveTimeout: 700000', { keepAliveTimeout: 700_000 }],
    ['keepAliveTimeout: 0 (undici: InvalidArgumentError)', { keepAliveTimeout: 0 }],
    ['bodyTimeout: -1 (undici: InvalidArgumentError)', { bodyTimeout: -1 }],
    ['bodyTimeout: 4000000', { bodyTimeout: 4_000_000 }],
  ];
  for (const [name, options] of cases) {
    it(name, async () => {
      const s = await server({ address: HTTP, protocol: 'http' });
      const r = await both({ ...base(), ...options }, async (d) => (await get(d, `${s.origin}/echo`)).status);
      if (!name.includes('undici: InvalidArgumentError')) expect(r.undici).toEqual({ ok: true, value: 200 });
      else expect(r.undici).toMatchObject({ ok: false, error: { class: 'InvalidArgumentError' } });
      const key = Object.keys(options)[0]!;
      expect(r.ridethrough).toMatchObject({ ok: false, error: { class: 'RangeError', message: expect.stringContaining(`"${key}"`) } });
    });
  }
});

describe('the overlap rule: an undici option sets ridethrough’s, unless ridethrough’s is given too', () => {
  const resolved = (options: Record<string, unknown>) => {
    const agent = new ResilientAgent({ ...base(), ...options });
    defer(() => agent.destroy());
    const o = agent.context.options;
    return {
      connectTimeout: o.connectTimeout,
      attemptTimeout: o.attemptTimeout,
      maxConnectionAge: o.maxConnectionAge,
      connectionsPerEndpoint: o.connectionsPerEndpoint,
      tls: o.tls,
    };
  };

  it('connect.timeout sets connectTimeout (0, undici’s "none", is the longest ridethrough allows)', () => {
    expect(resolved({ connect: { timeout: 2_500 } }).connectTimeout).toBe(2_500);
    expect(resolved({ connect: { timeout: 0 } }).connectTimeout).toBe(600_000);
    expect(resolved({ connect: { timeout: 2_500 }, connectTimeout: 300 }).connectTimeout).toBe(300);
  });

  it('headersTimeout sets attemptTimeout (0, undici’s "none", leaves the deadline as the bound)', () => {
    expect(resolved({ headersTimeout: 2_000 }).attemptTimeout).toBe(2_000);
    expect(resolved({ headersTimeout: 0 }).attemptTimeout).toBe(3_600_000);
    expect(resolved({ headersTimeout: 2_000, attemptTimeout: 700 }).attemptTimeout).toBe(700);
  });

  it('clientTtl sets maxConnectionAge (at least its 1 s floor; the pools still get clientTtl itself)', () => {
    expect(resolved({ clientTtl: 30_000 }).maxConnectionAge).toBe(30_000);
    expect(resolved({ clientTtl: 100 }).maxConnectionAge).toBe(1_000);
    expect(resolved({ clientTtl: 0 }).maxConnectionAge).toBe(0);
    expect(resolved({ clientTtl: 30_000, maxConnectionAge: 5_000 }).maxConnectionAge).toBe(5_000);
  });

  it('connections sets connectionsPerEndpoint', () => {
    expect(resolved({ connections: 4 }).connectionsPerEndpoint).toBe(4);
    expect(resolved({ connections: null }).connectionsPerEndpoint).toBeUndefined();
    expect(resolved({ connections: 4, connectionsPerEndpoint: 2 }).connectionsPerEndpoint).toBe(2);
  });

  it("connect's TLS settings set tls", () => {
    expect(resolved({ connect: { ca: 'CA', rejectUnauthorized: false, timeout: 100 } }).tls).toEqual({ ca: 'CA', rejectUnauthorized: false });
    expect(resolved({ connect: { ca: 'CA' }, tls: { ca: 'mine' } }).tls).toEqual({ ca: 'mine' });
  });

  it('ridethrough’s own errors are unchanged: its options (and the four shared ones) fail as documented, before undici’s are checked', () => {
    const cases: [unknown, ErrorConstructor, RegExp][] = [
      [{ keepAliveTimeout: 0, headersTimeout: -1 }, RangeError, /"keepAliveTimeout"/],
      [{ bodyTimeout: 'x' }, TypeError, /"bodyTimeout"/],
      [{ connectTimeout: null }, TypeError, /"connectTimeout"/],
      [{ tls: 'x' }, TypeError, /"tls"/],
      [{ deadline: 0, connections: -1 }, RangeError, /"deadline"/],
      [null, TypeError, /"options"/],
    ];
    for (const [options, Class, message] of cases) {
      let err: unknown;
      try {
        new ResilientAgent(options as never);
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(Class);
      expect((err as Error).message).toMatch(message);
    }
  });

  it('an unknown key is still refused, naming it (undici ignores it)', () => {
    expect(() => new ResilientAgent({ ...base(), conections: 2 } as never)).toThrow(/unknown option "conections"/);
  });
});

describe('ResilientAgent only: the endpoint stays pinned whatever connect is', () => {
  it('a connect function is called with the endpoint IP as hostname (and the host name as servername), and rides through a refused endpoint', async () => {
    const live = await server({ address: '127.0.150.5', protocol: 'http' });
    const port = Number(new URL(live.origin).port);
    // 127.0.150.6 has nothing on that port: connects there are refused.
    dns.setRecords('pinned.compat.test', { a: ['127.0.150.6', '127.0.150.5'] });
    const seen: { hostname: string; host: string | undefined }[] = [];
    const inner = buildConnector({});
    const agent = new ResilientAgent({
      ...base(),
      balancer: 'round-robin',
      backoff: { initialDelay: 5, maxDelay: 20 },
      connect: (opts, cb) => {
        seen.push({ hostname: opts.hostname, host: opts.host });
        return inner(opts, cb);
      },
    });
    defer(() => agent.destroy());
    for (let i = 0; i < 4; i++) {
      const res = await request(`http://pinned.compat.test:${port}/echo`, { dispatcher: agent });
      expect(res.statusCode).toBe(200);
      expect(((await res.body.json()) as { headers: { host: string } }).headers.host).toBe(`pinned.compat.test:${port}`);
    }
    expect(new Set(seen.map((s) => s.hostname))).toEqual(new Set(['127.0.150.6', '127.0.150.5']));
    expect(seen.every((s) => s.host === `pinned.compat.test:${port}`)).toBe(true);
    expect(live.log.requests).toHaveLength(4);
  });

  it('a connect object with its own lookup still goes to the endpoint ridethrough picked', async () => {
    const live = await server({ address: '127.0.150.7', protocol: 'http' });
    const port = Number(new URL(live.origin).port);
    dns.setRecords('lookup.compat.test', { a: ['127.0.150.7'] });
    let theirs = 0;
    const agent = new ResilientAgent({
      ...base(),
      connect: {
        lookup: (_h: string, _o: object, cb: (err: Error | null, address: string, family: number) => void) => {
          theirs++;
          cb(null, '127.0.150.99', 4);
        },
      } as never,
    });
    defer(() => agent.destroy());
    const res = await request(`http://lookup.compat.test:${port}/echo`, { dispatcher: agent });
    expect(res.statusCode).toBe(200);
    await res.body.text();
    expect(theirs).toBe(0);
  });
});
