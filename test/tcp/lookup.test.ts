/**
 * createResilientLookup with Node's own clients (net.connect, http.get/http.Agent, tls.connect) against real
 * servers on loopback addresses and the real DnsServer.
 */
import type { LookupAddress } from 'node:dns';
import { once } from 'node:events';
import http from 'node:http';
import net from 'node:net';
import tls from 'node:tls';
import { afterEach, describe, expect, it } from 'vitest';
import { ResilienceContext } from '../../src/core/context.js';
import { createResilientLookup, type ResilientLookup } from '../../src/tcp/lookup.js';
import { lookupSocket } from '../../src/tcp/lookup-socket.js';
import { Cluster, sleep, waitFor } from '../support/cluster.js';
import { makeCert, roundTrip, startEcho, startTlsEcho } from './support.js';

const DNS_ADDRESS = '127.0.42.53';

type One = { address: string; family: number };

/** Promisified single-address lookup. */
function lookupOne(lookup: ResilientLookup, hostname: string, options?: number | object): Promise<One> {
  return new Promise((resolve, reject) => {
    lookup(hostname, options as never, (err, address, family) => (err ? reject(err) : resolve({ address: address as string, family: family ?? 0 })));
  });
}

/** Promisified `all: true` lookup. */
function lookupAll(lookup: ResilientLookup, hostname: string, options: object = {}): Promise<LookupAddress[]> {
  return new Promise((resolve, reject) => {
    lookup(hostname, { ...options, all: true }, (err, addresses) => (err ? reject(err) : resolve(addresses as LookupAddress[])));
  });
}

async function lookupError(lookup: ResilientLookup, hostname: string, options?: object): Promise<NodeJS.ErrnoException & { hostname?: string }> {
  try {
    await lookupOne(lookup, hostname, options);
  } catch (err) {
    return err as NodeJS.ErrnoException;
  }
  throw new Error('expected the lookup to fail');
}

/** Resolves when the socket connects, rejects on its error. */
async function connected<S extends net.Socket>(socket: S, event = 'connect'): Promise<S> {
  await once(socket, event);
  return socket;
}

describe('createResilientLookup', () => {
  let cluster: Cluster | undefined;
  const sockets: net.Socket[] = [];

  afterEach(async () => {
    for (const s of sockets.splice(0)) s.destroy();
    await cluster?.close();
    cluster = undefined;
  });

  async function start(): Promise<{ c: Cluster; ctx: ResilienceContext; lookup: ResilientLookup }> {
    const c = (cluster = await Cluster.start(DNS_ADDRESS));
    const ctx = new ResilienceContext({ dns: c.dnsOptions() });
    c.defer(() => ctx.close());
    return { c, ctx, lookup: createResilientLookup({}, ctx) };
  }

  function keep<S extends net.Socket>(s: S): S {
    sockets.push(s);
    return s;
  }

  it('net.connect: resolves through the cache, with and without autoSelectFamily (all: true and single forms)', async () => {
    const { c, lookup } = await start();
    const echo = await startEcho('127.0.42.1');
    c.defer(() => echo.kill());
    c.publish('echo.lookup.test', ['127.0.42.1'], 5);

    const a = keep(await connected(net.connect({ host: 'echo.lookup.test', port: echo.port, lookup })));
    expect(a.remoteAddress).toBe('127.0.42.1');
    expect(await roundTrip(a, 'hello')).toBe('hello');
    const b = keep(await connected(net.connect({ host: 'echo.lookup.test', port: echo.port, lookup, autoSelectFamily: false })));
    expect(b.remoteAddress).toBe('127.0.42.1');
    const d = keep(await connected(net.connect({ host: 'echo.lookup.test', port: echo.port, lookup, family: 4 })));
    expect(d.remoteFamily).toBe('IPv4');
    expect(c.dns.queryCount('echo.lookup.test')).toBe(2); // one A + one AAAA query for all three
  });

  it('family 4/6, all: true, order, and the number and callback-only forms', async () => {
    const { c, lookup } = await start();
    c.dns.setRecords('dual.lookup.test', { a: ['127.0.42.2'], aaaa: ['::1'], ttl: 5 });
    c.publish('v4only.lookup.test', ['127.0.42.2'], 5);

    expect(await lookupOne(lookup, 'dual.lookup.test', { family: 4 })).toEqual({ address: '127.0.42.2', family: 4 });
    expect(await lookupOne(lookup, 'dual.lookup.test', { family: 6 })).toEqual({ address: '::1', family: 6 });
    expect(await lookupOne(lookup, 'dual.lookup.test', 6)).toEqual({ address: '::1', family: 6 });
    expect(await lookupOne(lookup, 'dual.lookup.test', { family: 'IPv6' })).toEqual({ address: '::1', family: 6 });
    expect(await lookupAll(lookup, 'dual.lookup.test')).toEqual([
      { address: '127.0.42.2', family: 4 },
      { address: '::1', family: 6 },
    ]);
    expect(await lookupAll(lookup, 'dual.lookup.test', { order: 'ipv6first' })).toEqual([
      { address: '::1', family: 6 },
      { address: '127.0.42.2', family: 4 },
    ]);
    expect(await lookupAll(lookup, 'dual.lookup.test', { family: 6 })).toEqual([{ address: '::1', family: 6 }]);
    const viaCallbackOnly = await new Promise<One>((resolve, reject) =>
      lookup('dual.lookup.test', (err, address, family) => (err ? reject(err) : resolve({ address: address as string, family: family ?? 0 }))),
    );
    expect([
      { address: '127.0.42.2', family: 4 },
      { address: '::1', family: 6 },
    ]).toContainEqual(viaCallbackOnly);
    expect(await lookupOne(lookup, 'dual.lookup.test', { order: 'ipv4first' })).toEqual({ address: '127.0.42.2', family: 4 });
    expect(await lookupOne(lookup, 'dual.lookup.test', { order: 'ipv6first' })).toEqual({ address: '::1', family: 6 });
    // IP literals are answered as is, like dns.lookup.
    expect(await lookupOne(lookup, '127.0.42.9', { family: 6 })).toEqual({ address: '127.0.42.9', family: 4 });
    expect(await lookupAll(lookup, '::1')).toEqual([{ address: '::1', family: 6 }]);

    // No address of the family asked for: ENOTFOUND, as getaddrinfo says.
    const e6 = await lookupError(lookup, 'v4only.lookup.test', { family: 6 });
    expect(e6).toMatchObject({ code: 'ENOTFOUND', syscall: 'getaddrinfo', hostname: 'v4only.lookup.test' });

    // And a real IPv6 connect through the lookup.
    const echo6 = await startEcho('::1');
    c.defer(() => echo6.kill());
    const s = keep(await connected(net.connect({ host: 'dual.lookup.test', port: echo6.port, lookup, family: 6 })));
    expect(s.remoteAddress).toBe('::1');
  });

  it("errors have Node's shape: ENOTFOUND for a missing name, EAI_AGAIN when DNS fails; invalid arguments throw", async () => {
    const { c, lookup } = await start();
    const missing = await lookupError(lookup, 'missing.lookup.test');
    expect(missing).toBeInstanceOf(Error);
    expect(missing).toMatchObject({
      code: 'ENOTFOUND',
      errno: -3008,
      syscall: 'getaddrinfo',
      hostname: 'missing.lookup.test',
      message: 'getaddrinfo ENOTFOUND missing.lookup.test',
    });

    // Through net.connect the error reaches the socket as with the system resolver.
    const socket = net.connect({ host: 'missing.lookup.test', port: 9, lookup });
    const [err] = (await once(socket, 'error').catch((e: unknown) => [e])) as [NodeJS.ErrnoException];
    expect(err).toMatchObject({ code: 'ENOTFOUND', syscall: 'getaddrinfo' });

    c.dns.setMode('servfail');
    const failing = await lookupError(lookup, 'never-seen.lookup.test');
    expect(failing).toMatchObject({ code: 'EAI_AGAIN', errno: -3001, syscall: 'getaddrinfo', hostname: 'never-seen.lookup.test' });
    expect((failing.cause as { dnsCode?: string }).dnsCode).toBe('ESERVFAIL');
    c.dns.setMode('normal');

    expect(() => lookup('x.test', { family: 5 } as never, () => {})).toThrow(TypeError);
    expect(() => lookup('x.test', {}, undefined as never)).toThrow(/callback/);
    expect(() => createResilientLookup({ dns: { timeout: 0 } })).toThrow(/"dns.timeout"/);
    expect(() => createResilientLookup({ colour: 1 } as never)).toThrow(/unknown option "colour"/);
  });

  it('rotates over the healthy addresses; a reported failure takes an address out of rotation and re-resolves', async () => {
    const { c, ctx, lookup } = await start();
    c.publish('pool.lookup.test', ['127.0.42.3', '127.0.42.4', '127.0.42.5'], 5);

    const seen: string[] = [];
    for (let i = 0; i < 6; i++) seen.push((await lookupOne(lookup, 'pool.lookup.test')).address);
    expect(new Set(seen)).toEqual(new Set(['127.0.42.3', '127.0.42.4', '127.0.42.5']));
    expect(seen.slice(0, 3)).toEqual(seen.slice(3));

    await sleep(600); // re-resolutions on failure are rate-limited (dns.reResolveInterval, 500 ms)
    const queries = c.dns.queryCount('pool.lookup.test');
    lookup.reportFailure('pool.lookup.test', '127.0.42.4');
    await waitFor(() => c.dns.queryCount('pool.lookup.test') > queries, 2_000, 're-resolution');
    const after: string[] = [];
    for (let i = 0; i < 6; i++) after.push((await lookupOne(lookup, 'pool.lookup.test')).address);
    expect(after).not.toContain('127.0.42.4');
    expect(new Set(after)).toEqual(new Set(['127.0.42.3', '127.0.42.5']));
    // With all: true the failing address comes last, as a last resort.
    expect((await lookupAll(lookup, 'pool.lookup.test')).at(-1)?.address).toBe('127.0.42.4');
    const endpoints = ctx.stats['tcp://pool.lookup.test']?.endpoints ?? [];
    expect(endpoints.find((e) => e.address === '127.0.42.4')?.state).toBe('ejected');
  });

  it('watchSocket reports a refused address by itself (all: true and single paths): the next connects avoid it', async () => {
    const { c, ctx, lookup } = await start();
    const live = await startEcho('127.0.42.7');
    c.defer(() => live.kill());
    c.publish('watch.lookup.test', ['127.0.42.6'], 5);
    await lookupOne(lookup, 'watch.lookup.test');
    await sleep(600); // re-resolutions on failure are rate-limited (dns.reResolveInterval, 500 ms)
    const queries = c.dns.queryCount('watch.lookup.test');

    // Single path: the only address refuses.
    const lone = lookup.watchSocket(net.connect({ host: 'watch.lookup.test', port: live.port, lookup, autoSelectFamily: false }), 'watch.lookup.test');
    const [err] = (await once(lone, 'error').catch((e: unknown) => [e])) as [NodeJS.ErrnoException];
    expect(err.code).toBe('ECONNREFUSED');
    const stats = () => ctx.stats['tcp://watch.lookup.test']?.endpoints ?? [];
    expect(stats().find((e) => e.address === '127.0.42.6')?.state).toBe('ejected');
    await waitFor(() => c.dns.queryCount('watch.lookup.test') > queries, 2_000, 're-resolution');

    // Both addresses, the refusing one first in the all: true answer: Node moves on and watchSocket
    // reports the refusal; later connects never try it.
    c.publish('watch2.lookup.test', ['127.0.42.8', '127.0.42.7'], 5);
    for (let i = 0; i < 4; i++) {
      const s = keep(await connected(lookup.watchSocket(net.connect({ host: 'watch2.lookup.test', port: live.port, lookup }), 'watch2.lookup.test')));
      expect(s.remoteAddress).toBe('127.0.42.7');
    }
    const endpoints2 = ctx.stats['tcp://watch2.lookup.test']?.endpoints ?? [];
    const refused = endpoints2.find((e) => e.address === '127.0.42.8');
    expect(refused?.failures).toBe(1); // the first connect tried it (rotation starts at the first address)
    expect(refused?.state).toBe('ejected');
    expect(endpoints2.find((e) => e.address === '127.0.42.7')?.failures).toBe(0);
  });

  it('http.get and http.Agent with the lookup', async () => {
    const { c, lookup } = await start();
    const pod = await c.startPod('web', '127.0.42.10', 0);
    c.publish('web.lookup.test', ['127.0.42.10'], 5);

    const get = (options: http.RequestOptions): Promise<string> =>
      new Promise((resolve, reject) => {
        http
          .get({ host: 'web.lookup.test', port: pod.boundPort, path: '/', ...options }, (res) => {
            let body = '';
            res.setEncoding('utf8');
            res.on('data', (chunk: string) => (body += chunk));
            res.on('end', () => resolve(body));
          })
          .on('error', reject);
      });
    expect(await get({ lookup })).toBe('web');
    const agent = new http.Agent({ keepAlive: false, lookup });
    c.defer(() => agent.destroy());
    expect(await get({ agent })).toBe('web');
    expect(pod.requests[0]?.headers.host).toBe(`web.lookup.test:${pod.boundPort}`);
  });

  it('tls.connect with the lookup: the certificate is checked against the host name', async () => {
    const { c, lookup } = await start();
    const cert = makeCert('echo.test');
    const server = await startTlsEcho('127.0.42.11', 0, cert);
    c.defer(() => server.kill());
    c.publish('echo.test', ['127.0.42.11'], 5);

    const socket = keep(await connected(tls.connect({ host: 'echo.test', port: server.port, lookup, ca: cert.cert }), 'secureConnect'));
    expect(socket.authorized).toBe(true);
    expect(socket.remoteAddress).toBe('127.0.42.11');
    expect(await roundTrip(socket, 'tls')).toBe('tls');
  });

  it('lookupSocket: a socket factory for drivers that call socket.connect(port, host) themselves', async () => {
    const { c, ctx, lookup } = await start();
    const echo = await startEcho('127.0.42.12');
    c.defer(() => echo.kill());
    c.publish('factory.lookup.test', ['127.0.42.13', '127.0.42.12'], 5);
    for (let i = 0; i < 3; i++) {
      const s = keep(lookupSocket(lookup));
      s.connect(echo.port, 'factory.lookup.test');
      await connected(s);
      expect(s.remoteAddress).toBe('127.0.42.12');
    }
    const endpoints = ctx.stats['tcp://factory.lookup.test']?.endpoints ?? [];
    expect(endpoints.find((e) => e.address === '127.0.42.13')?.failures).toBe(1);
    const viaOptions = keep(lookupSocket(lookup).connect({ port: echo.port, host: 'factory.lookup.test' }));
    await connected(viaOptions);
    expect(viaOptions.remoteAddress).toBe('127.0.42.12');
  });
});
