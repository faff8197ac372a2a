/**
 * resilientConnect against real TCP/TLS echo servers on loopback addresses and the real DnsServer.
 */
import type { Socket } from 'node:net';
import { TLSSocket } from 'node:tls';
import { afterEach, describe, expect, it } from 'vitest';
import { ResilienceContext } from '../../src/core/context.js';
import { AttemptsExhaustedError, DeadlineExceededError, DnsResolutionError } from '../../src/errors/errors.js';
import { channelNames, type RetryEvent } from '../../src/events/channels.js';
import { createResilientLookup } from '../../src/tcp/lookup.js';
import { resilientConnect } from '../../src/tcp/resilient-connect.js';
import { recordChannel, sleep } from '../support/cluster.js';
import { freePort, makeCert, rejection, roundTrip, startEcho, startTlsEcho, useContextCluster } from './support.js';

const DNS_ADDRESS = '127.0.40.53';

describe('resilientConnect', () => {
  /** A cluster whose echo servers and contexts are torn down after the test. */
  const start = useContextCluster(DNS_ADDRESS);
  const sockets: Socket[] = [];

  // Registered after the cluster's: afterEach hooks run in reverse, so sockets go before the cluster.
  afterEach(() => {
    for (const s of sockets.splice(0)) s.destroy();
  });

  function keep<S extends Socket>(s: S): S {
    sockets.push(s);
    return s;
  }

  it('resolves the name through the DNS cache and returns a connected socket', async () => {
    const { c, ctx } = await start();
    const echo = await startEcho('127.0.40.10');
    c.defer(() => echo.kill());
    c.publish('echo.tcp.test', ['127.0.40.10'], 5);

    const socket = keep(await resilientConnect({ host: 'echo.tcp.test', port: echo.port }, ctx));
    expect(socket.remoteAddress).toBe('127.0.40.10');
    expect(socket.connecting).toBe(false);
    expect(await roundTrip(socket, 'ping')).toBe('ping');

    // The second connect is served from the cache: no new query.
    const queries = c.dns.queryCount('echo.tcp.test');
    keep(await resilientConnect({ host: 'echo.tcp.test', port: echo.port }, ctx));
    expect(c.dns.queryCount('echo.tcp.test')).toBe(queries);
  });

  it('the server moves to a new address with DNS lagging 1.5 s: connects made in the window succeed on the new address, within the deadline', async () => {
    const { c, ctx } = await start();
    const old = await startEcho('127.0.40.1');
    const port = old.port;
    c.defer(() => old.kill());
    c.publish('move.tcp.test', ['127.0.40.1'], 1);
    keep(await resilientConnect({ host: 'move.tcp.test', port }, ctx));

    // The pod moves: the old address refuses at once, the new one listens, DNS still says the old one.
    await old.kill();
    const moved = await startEcho('127.0.40.2', port);
    c.defer(() => moved.kill());
    const movedAt = Date.now();
    let publishedAt = 0;
    const publish = sleep(1_500).then(() => {
      c.publish('move.tcp.test', ['127.0.40.2'], 1);
      publishedAt = Date.now();
    });

    const calls = [0, 200, 500, 900, 1_300].map(async (delay) => {
      await sleep(delay);
      const started = Date.now();
      const socket = keep(await resilientConnect({ host: 'move.tcp.test', port, deadline: 6_000 }, ctx));
      return { socket, started, ended: Date.now() };
    });
    const results = await Promise.all(calls);
    await publish;

    for (const r of results) {
      expect(r.socket.remoteAddress).toBe('127.0.40.2');
      expect(await roundTrip(r.socket, 'after the move')).toBe('after the move');
      // Only possible once the new address is published; done well within the 6 s deadline.
      expect(r.ended).toBeGreaterThanOrEqual(publishedAt);
      expect(r.ended - r.started).toBeLessThan(5_000);
    }
    expect(publishedAt - movedAt).toBeGreaterThanOrEqual(1_400);
    expect(moved.connections).toBe(results.length);
    // The old address was marked bad by the refusals.
    const stats = ctx.stats[`tcp://move.tcp.test:${port}`];
    expect(stats?.endpoints.map((e) => e.address)).toEqual(['127.0.40.2']);
  });

  it('two addresses, one refusing: every connect lands on the live one and the refusing one is ejected', async () => {
    const { c, ctx } = await start();
    const live = await startEcho('127.0.40.12');
    c.defer(() => live.kill());
    c.publish('pair.tcp.test', ['127.0.40.11', '127.0.40.12'], 5);
    const retries = recordChannel<RetryEvent>(channelNames.retry);
    c.defer(() => retries.stop());

    // The balancer picks at random between the two, so six connects miss the refusing address one time
    // in 64: keep connecting (up to 40) until it has been tried once.
    const triedRefusing = (): boolean => retries.events.some((e) => e.message.address === '127.0.40.11');
    let connects = 0;
    while (connects < 6 || (!triedRefusing() && connects < 40)) {
      const socket = keep(await resilientConnect({ host: 'pair.tcp.test', port: live.port }, ctx));
      expect(socket.remoteAddress).toBe('127.0.40.12');
      connects++;
    }
    const endpoints = ctx.stats[`tcp://pair.tcp.test:${live.port}`]?.endpoints ?? [];
    expect(endpoints.find((e) => e.address === '127.0.40.11')?.state).toBe('ejected');
    // Exactly one refusal: after it the address is out of rotation.
    const refused = retries.events.filter((e) => e.message.address === '127.0.40.11');
    expect(refused).toHaveLength(1);
    expect(refused[0]!.message).toMatchObject({ method: 'CONNECT', reason: 'ECONNREFUSED', origin: `tcp://pair.tcp.test:${live.port}` });
  });

  it('rejects with DeadlineExceededError listing every attempt (address, code, durationMs) when nothing answers in time', async () => {
    const { c, ctx } = await start();
    const port = await freePort('127.0.40.13');
    c.publish('dead.tcp.test', ['127.0.40.13'], 5);

    const started = Date.now();
    const err = await rejection(resilientConnect({ host: 'dead.tcp.test', port, deadline: 800 }, ctx));
    expect(err).toBeInstanceOf(DeadlineExceededError);
    const e = err as DeadlineExceededError;
    expect(e.code).toBe('RIDETHROUGH_DEADLINE_EXCEEDED');
    expect(e.origin).toBe(`tcp://dead.tcp.test:${port}`);
    expect(e.attempts.length).toBeGreaterThanOrEqual(2);
    for (const [i, a] of e.attempts.entries()) {
      // The last one may have been connecting when the deadline passed (a loaded machine): it says so.
      const codes = i === e.attempts.length - 1 ? ['ECONNREFUSED', 'RIDETHROUGH_DEADLINE_EXCEEDED'] : ['ECONNREFUSED'];
      expect(a).toMatchObject({ address: '127.0.40.13', maybeSent: false });
      expect(codes).toContain(a.code);
      expect(a.durationMs).toBeGreaterThanOrEqual(0);
    }
    expect((e.cause as { code?: string }).code).toBe('ECONNREFUSED');
    expect(Date.now() - started).toBeLessThan(2_000);
  });

  it('rejects with AttemptsExhaustedError after maxAttempts', async () => {
    const { c, ctx } = await start();
    const port = await freePort('127.0.40.14');
    c.publish('dead2.tcp.test', ['127.0.40.14'], 5);
    const err = await rejection(resilientConnect({ host: 'dead2.tcp.test', port, maxAttempts: 3, deadline: 20_000 }, ctx));
    expect(err).toBeInstanceOf(AttemptsExhaustedError);
    expect((err as AttemptsExhaustedError).attempts.map((a) => a.code)).toEqual(['ECONNREFUSED', 'ECONNREFUSED', 'ECONNREFUSED']);
  });

  it('goes at once to each address not tried yet, backs off (jittered, at most maxDelay) only when none is left; maxAttempts counts every attempt', async () => {
    const { c } = await start();
    const ctx = new ResilienceContext({ dns: c.dnsOptions(), backoff: { initialDelay: 40, maxDelay: 100 } });
    c.defer(() => ctx.close());
    const addresses = ['127.0.40.21', '127.0.40.22', '127.0.40.23'];
    const port = await freePort(addresses[0]!);
    c.publish('three.tcp.test', addresses, 5);
    const retries = recordChannel<RetryEvent>(channelNames.retry);
    c.defer(() => retries.stop());

    const err = await rejection(resilientConnect({ host: 'three.tcp.test', port, maxAttempts: 6, deadline: 20_000 }, ctx));
    expect(err).toBeInstanceOf(AttemptsExhaustedError);
    const attempts = (err as AttemptsExhaustedError).attempts;
    expect(attempts.map((a) => a.code)).toEqual(Array(6).fill('ECONNREFUSED'));
    // The first three attempts cover the three addresses, with no delay between them.
    expect(new Set(attempts.slice(0, 3).map((a) => a.address))).toEqual(new Set(addresses));
    const delays = retries.events.map((e) => e.message.delayMs);
    expect(delays).toHaveLength(5);
    expect(delays.slice(0, 2)).toEqual([0, 0]);
    // Then every address has failed: full-jitter delays, each at most maxDelay.
    for (const d of delays.slice(2)) {
      expect(d).toBeGreaterThanOrEqual(0);
      expect(d).toBeLessThanOrEqual(100);
    }
  });

  it('a connect waiting out its backoff is released by the DNS answer that adds an address, not by its timer', async () => {
    const { c } = await start();
    // Long delays: only the waiting room's release can make this connect land early.
    const ctx = new ResilienceContext({ dns: c.dnsOptions(), backoff: { jitter: 'decorrelated', initialDelay: 20_000, maxDelay: 30_000 } });
    c.defer(() => ctx.close());
    const port = await freePort('127.0.40.24');
    c.publish('wake.tcp.test', ['127.0.40.24'], 1);
    const releases = recordChannel<{ hostname: string; reason: string }>(channelNames.release);
    c.defer(() => releases.stop());
    const pending = resilientConnect({ host: 'wake.tcp.test', port, deadline: 40_000 }, ctx);
    await sleep(300);
    const moved = await startEcho('127.0.40.25', port);
    c.defer(() => moved.kill());
    c.publish('wake.tcp.test', ['127.0.40.25'], 1);
    const started = performance.now();
    const socket = keep(await pending);
    expect(socket.remoteAddress).toBe('127.0.40.25');
    expect(releases.events.map((e) => e.message)).toContainEqual(expect.objectContaining({ hostname: 'wake.tcp.test', reason: 'dns' }));
    // Generous: the room re-queries every ~50 ms; the backoff alone would have waited 20 s or more.
    expect(performance.now() - started).toBeLessThan(10_000);
  });

  it('rejects with DnsResolutionError, without retrying, for a name that does not exist', async () => {
    const { ctx } = await start();
    const started = Date.now();
    const err = await rejection(resilientConnect({ host: 'missing.tcp.test', port: 4000 }, ctx));
    expect(err).toBeInstanceOf(DnsResolutionError);
    const e = err as DnsResolutionError;
    expect(e.dnsCode).toBe('ENOTFOUND');
    expect(e.attempts).toHaveLength(1);
    expect(e.attempts[0]).toMatchObject({ address: undefined, code: 'ENOTFOUND' });
    expect(Date.now() - started).toBeLessThan(2_000);
  });

  it('an AbortSignal cancels the connect and the promise rejects with its reason', async () => {
    const { c, ctx } = await start();
    const port = await freePort('127.0.40.15');
    c.publish('abort.tcp.test', ['127.0.40.15'], 5);
    const reason = new Error('caller gave up');
    const started = Date.now();
    const err = await rejection(resilientConnect({ host: 'abort.tcp.test', port, deadline: 10_000, signal: AbortSignal.timeout(300) }, ctx));
    expect((err as Error).name).toBe('TimeoutError');
    expect(Date.now() - started).toBeLessThan(2_000);

    const controller = new AbortController();
    controller.abort(reason);
    expect(await rejection(resilientConnect({ host: 'abort.tcp.test', port, signal: controller.signal }, ctx))).toBe(reason);
  });

  it('TLS: servername is the host name, resolves after secureConnect; a certificate error is not retried', async () => {
    const { c, ctx } = await start();
    const cert = makeCert('echo.test');
    const server = await startTlsEcho('127.0.40.16', 0, cert);
    c.defer(() => server.kill());
    c.publish('echo.test', ['127.0.40.16'], 5);
    c.publish('wrong-name.test', ['127.0.40.16'], 5);

    const socket = keep(await resilientConnect({ host: 'echo.test', port: server.port, tls: { ca: cert.cert } }, ctx));
    expect(socket).toBeInstanceOf(TLSSocket);
    expect(socket.authorized).toBe(true);
    expect(socket.servername).toBe('echo.test');
    expect(await roundTrip(socket, 'secure')).toBe('secure');

    const before = server.connections;
    const err = await rejection(resilientConnect({ host: 'wrong-name.test', port: server.port, tls: { ca: cert.cert } }, ctx));
    expect((err as { code?: string }).code).toBe('ERR_TLS_CERT_ALTNAME_INVALID');
    await sleep(100);
    expect(server.connections - before).toBeLessThanOrEqual(1);
  });

  it('shares the DNS cache of its context with createResilientLookup; without a context, equal settings share one', async () => {
    const { c, ctx } = await start();
    const echo = await startEcho('127.0.40.17');
    c.defer(() => echo.kill());
    c.publish('shared.tcp.test', ['127.0.40.17'], 5);
    keep(await resilientConnect({ host: 'shared.tcp.test', port: echo.port }, ctx));
    const queries = c.dns.queryCount('shared.tcp.test');
    const lookup = createResilientLookup({}, ctx);
    const address = await new Promise<string>((resolve, reject) => lookup('shared.tcp.test', {}, (err, a) => (err ? reject(err) : resolve(a as string))));
    expect(address).toBe('127.0.40.17');
    expect(c.dns.queryCount('shared.tcp.test')).toBe(queries);

    c.publish('shared2.tcp.test', ['127.0.40.17'], 5);
    const dns = c.dnsOptions({ maxTtl: 4_321 });
    keep(await resilientConnect({ host: 'shared2.tcp.test', port: echo.port, dns }));
    keep(await resilientConnect({ host: 'shared2.tcp.test', port: echo.port, dns: c.dnsOptions({ maxTtl: 4_321 }) }));
    expect(c.dns.queryCount('shared2.tcp.test')).toBe(2); // one A and one AAAA query, once
  });

  it('validates options at call time, naming the option', async () => {
    const ctx = new ResilienceContext({ dns: { servers: [`${DNS_ADDRESS}:53`], search: [] } });
    try {
      await expect(resilientConnect({ host: '', port: 1 }, ctx)).rejects.toThrow(/"host"/);
      await expect(resilientConnect({ host: 'x', port: 0 }, ctx)).rejects.toThrow(RangeError);
      await expect(resilientConnect({ host: 'x', port: '80' as unknown as number }, ctx)).rejects.toThrow(/"port"/);
      await expect(resilientConnect({ host: 'x', port: 80, connectTimeout: 0 }, ctx)).rejects.toThrow(/"connectTimeout"/);
      await expect(resilientConnect({ host: 'x', port: 80, deadline: -1 }, ctx)).rejects.toThrow(RangeError);
      await expect(resilientConnect({ host: 'x', port: 80, maxAttempts: 1.5 }, ctx)).rejects.toThrow(/"maxAttempts"/);
      await expect(resilientConnect({ host: 'x', port: 80, signal: {} as AbortSignal }, ctx)).rejects.toThrow(/"signal"/);
      await expect(resilientConnect({ host: 'x', port: 80, tls: { host: 'y' } }, ctx)).rejects.toThrow(/"tls.host"/);
      await expect(resilientConnect({ host: 'x', port: 80, dns: {} }, ctx)).rejects.toThrow(/"dns" cannot be combined/);
      await expect(resilientConnect({ host: 'x', port: 80, colour: 1 } as never, ctx)).rejects.toThrow(/unknown option "colour"/);
      await expect(resilientConnect({ host: 'x', port: 80, dns: { maxTtl: -5 } })).rejects.toThrow(/"dns.maxTtl"/);
    } finally {
      ctx.close();
    }
  });
});
