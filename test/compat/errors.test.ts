/**
 * Where the network error (ECONNREFUSED, ECONNRESET, "other side closed", a headers timeout) is when
 * ridethrough gives up, for undici's request(), undici's fetch, Node's fetch and resilientFetch:
 * undici's `Agent` reports the error itself (fetch: as the cause of `TypeError('fetch failed')`);
 * ridethrough reports a `RidethroughError` whose `cause` is that same error and whose last attempt
 * record carries its code (docs/compatibility.md). Real parts only, on 127.0.154.x.
 */
import net from 'node:net';
import { type Dispatcher, fetch as undiciFetch, request } from 'undici';
import { describe, expect, it } from 'vitest';
import {
  AttemptsExhaustedError,
  DeadlineExceededError,
  DnsResolutionError,
  NotRetryableError,
  type RidethroughError,
  createResilientFetch,
} from '../../src/index.js';
import { both, forBuiltinFetch, run, shape } from './support/compare.js';
import { refusedOrigin } from './support/servers.js';
import { useCompatScope } from './support/scope.js';

const { base, server, defer } = useCompatScope('127.0.154.53', '127.0.154.2');
const builtinFetch = globalThis.fetch as unknown as (input: string, init?: Record<string, unknown>) => Promise<Response>;

/** A server that, once it has read a request, resets the connection (`reset`) or closes it (`close`). */
async function rude(address: string, how: 'reset' | 'close'): Promise<string> {
  const sockets = new Set<net.Socket>();
  const s = net.createServer((socket) => {
    sockets.add(socket);
    socket.on('error', () => {});
    socket.once('data', () => (how === 'reset' ? socket.resetAndDestroy() : socket.end()));
  });
  await new Promise<void>((resolve) => s.listen(0, address, () => resolve()));
  defer(
    () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy();
        s.close(() => resolve());
      }),
  );
  return `http://${address}:${(s.address() as net.AddressInfo).port}`;
}

/** The three ways a caller sends through a dispatcher. */
const apis: [string, (d: Dispatcher, kind: 'undici' | 'ridethrough', url: string, init: { method: string; body?: string }) => Promise<unknown>][] = [
  ['request()', async (d, _k, url, init) => (await request(url, { ...init, dispatcher: d } as Parameters<typeof request>[1])).statusCode],
  ['undici fetch', async (d, _k, url, init) => (await undiciFetch(url, { ...init, dispatcher: d })).status],
  ["Node's fetch", async (d, kind, url, init) => (await builtinFetch(url, { ...init, dispatcher: forBuiltinFetch(kind, d) })).status],
];

describe('the network error is the cause of ridethrough’s error', () => {
  for (const [api, send] of apis) {
    it(`${api}: ECONNREFUSED (maxAttempts 1)`, async () => {
      const origin = await refusedOrigin('127.0.154.1');
      const r = await both({ ...base(), maxAttempts: 1 }, (d, kind) => send(d, kind, `${origin}/`, { method: 'GET' }), { unwrapGiveUp: true });
      expect(JSON.stringify(r.undici)).toContain('ECONNREFUSED');
      expect(r.ridethrough).toEqual(r.undici);
      // Unwrapped, the ridethrough error is an AttemptsExhaustedError whose last attempt says ECONNREFUSED.
      const raw = await run('ridethrough', { ...base(), maxAttempts: 1 }, async (d, kind) => {
        try {
          return await send(d, kind, `${origin}/`, { method: 'GET' });
        } catch (err) {
          const e = api === 'request()' ? err : (err as Error).cause;
          expect(e).toBeInstanceOf(AttemptsExhaustedError);
          expect((e as RidethroughError).attempts.at(-1)?.code).toBe('ECONNREFUSED');
          expect(((e as Error).cause as { code?: string }).code).toBe('ECONNREFUSED');
          throw err;
        }
      });
      expect(raw.ok).toBe(false);
    });

    it(`${api}: ECONNREFUSED until the deadline`, async () => {
      const origin = await refusedOrigin('127.0.154.1');
      const r = await both(
        { ...base(), deadline: 300, backoff: { initialDelay: 10, maxDelay: 50 } },
        (d, kind) => send(d, kind, `${origin}/`, { method: 'GET' }),
        { unwrapGiveUp: true },
      );
      expect(r.ridethrough).toEqual(r.undici);
      const raw = await run('ridethrough', { ...base(), deadline: 300, backoff: { initialDelay: 10, maxDelay: 50 } }, (d, kind) =>
        send(d, kind, `${origin}/`, { method: 'GET' }),
      );
      const error = raw.ok ? undefined : api === 'request()' ? raw.error : raw.error.cause;
      expect(error).toMatchObject({ class: 'DeadlineExceededError', code: 'RIDETHROUGH_DEADLINE_EXCEEDED', cause: { code: 'ECONNREFUSED' } });
    });

    it(`${api}: ECONNRESET on a POST (not retried: it may have reached the server)`, async () => {
      const origin = await rude('127.0.154.3', 'reset');
      const r = await both(base(), (d, kind) => send(d, kind, `${origin}/`, { method: 'POST', body: 'x' }), { unwrapGiveUp: true });
      expect(JSON.stringify(r.undici)).toContain('ECONNRESET');
      expect(r.ridethrough).toEqual(r.undici);
      const raw = await run('ridethrough', base(), (d, kind) => send(d, kind, `${origin}/`, { method: 'POST', body: 'x' }));
      const error = raw.ok ? undefined : api === 'request()' ? raw.error : raw.error.cause;
      expect(error).toMatchObject({ class: 'NotRetryableError', cause: { code: 'ECONNRESET' } });
    });

    it(`${api}: "other side closed" on a POST`, async () => {
      const origin = await rude('127.0.154.4', 'close');
      const r = await both(base(), (d, kind) => send(d, kind, `${origin}/`, { method: 'POST', body: 'x' }), { unwrapGiveUp: true });
      expect(JSON.stringify(r.undici)).toContain('UND_ERR_SOCKET');
      expect(r.ridethrough).toEqual(r.undici);
    });
  }

  it('a headers timeout on a POST: the cause is undici’s HeadersTimeoutError', async () => {
    const s = await server({ address: '127.0.154.5', protocol: 'http' });
    const outcome = await run('ridethrough', { ...base(), attemptTimeout: 200 }, (d) =>
      request(`${s.origin}/slow-headers/3000`, { method: 'POST', body: 'x', dispatcher: d }),
    );
    expect(outcome).toMatchObject({
      ok: false,
      error: { class: 'NotRetryableError', cause: { class: 'HeadersTimeoutError', code: 'UND_ERR_HEADERS_TIMEOUT' } },
    });
  });
});

describe('resilientFetch', () => {
  it('throws the ridethrough error itself: its cause is what undici fetch has as its cause', async () => {
    const origin = await refusedOrigin('127.0.154.1');
    const undici = await run('undici', base(), (d) => undiciFetch(`${origin}/`, { dispatcher: d }));
    const fetchIt = createResilientFetch({ ...base(), maxAttempts: 1 });
    let err: unknown;
    try {
      await fetchIt(`${origin}/`);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(AttemptsExhaustedError);
    expect(shape((err as Error).cause)).toEqual(undici.ok ? undefined : undici.error.cause);
    expect((err as RidethroughError).attempts.map((a) => a.code)).toEqual(['ECONNREFUSED']);
  });

  it('until the deadline: DeadlineExceededError, the cause the last ECONNREFUSED', async () => {
    const origin = await refusedOrigin('127.0.154.1');
    const fetchIt = createResilientFetch({ ...base(), deadline: 300, backoff: { initialDelay: 10, maxDelay: 50 } });
    const err = await fetchIt(`${origin}/`).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(DeadlineExceededError);
    expect(((err as Error).cause as { code?: string }).code).toBe('ECONNREFUSED');
    expect((err as RidethroughError).attempts.every((a) => a.code === 'ECONNREFUSED' || a.code === 'RIDETHROUGH_DEADLINE_EXCEEDED')).toBe(true);
  });

  it('a reset POST: NotRetryableError, the cause the ECONNRESET', async () => {
    const origin = await rude('127.0.154.3', 'reset');
    const fetchIt = createResilientFetch(base());
    const err = await fetchIt(`${origin}/`, { method: 'POST', body: 'x' }).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(NotRetryableError);
    expect(((err as Error).cause as { code?: string }).code).toBe('ECONNRESET');
  });

  it('a name nobody published: DnsResolutionError with dnsCode ENOTFOUND (no attempt reached an address)', async () => {
    const fetchIt = createResilientFetch(base());
    const err = await fetchIt('http://unpublished.compat.test/').then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(DnsResolutionError);
    expect((err as DnsResolutionError).dnsCode).toBe('ENOTFOUND');
  });
});
