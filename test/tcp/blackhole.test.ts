/**
 * resilientConnect against blackholed addresses (SYNs silently dropped by a real iptables DROP rule,
 * as when a node dies). Needs root; under CI=true a missing root or iptables fails the suite.
 */
import { once } from 'node:events';
import net, { type Socket } from 'node:net';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { ResilienceContext } from '../../src/core/context.js';
import { DeadlineExceededError } from '../../src/errors/errors.js';
import { channelNames, type EndpointEvent, type RetryEvent } from '../../src/events/channels.js';
import { createResilientLookup } from '../../src/tcp/lookup.js';
import { resilientConnect } from '../../src/tcp/resilient-connect.js';
import { Cluster, recordChannel, sleep } from '../support/cluster.js';
import { IptablesChain, iptablesUnavailableReason } from '@ridethrough/testbed';
import { freePort, rejection, startEcho } from './support.js';

const DNS_ADDRESS = '127.0.41.53';
const CHAIN = 'RT-TEST-TCP';

const skipReason = iptablesUnavailableReason();
if (skipReason !== undefined) console.warn(`test/tcp/blackhole.test.ts skipped: ${skipReason}`);

describe.skipIf(skipReason !== undefined)('TCP connects to blackholed addresses (iptables DROP)', () => {
  const fw = new IptablesChain(CHAIN);
  let cluster: Cluster | undefined;
  const sockets: Socket[] = [];

  beforeAll(() => {
    fw.setup();
  });

  afterEach(async () => {
    for (const s of sockets.splice(0)) s.destroy();
    fw.flush();
    await cluster?.close();
    cluster = undefined;
  });

  afterAll(() => {
    fw.cleanup();
  });

  async function start(): Promise<{ c: Cluster; ctx: ResilienceContext }> {
    const c = (cluster = await Cluster.start(DNS_ADDRESS));
    const ctx = new ResilienceContext({ dns: c.dnsOptions() });
    c.defer(() => ctx.close());
    return { c, ctx };
  }

  it("a blackholed address is given up after the connect timeout, not the kernel's 2 minutes; the next attempt reaches the live address", async () => {
    const { c, ctx } = await start();
    const live = await startEcho('127.0.41.3');
    c.defer(() => live.kill());
    fw.drop('127.0.41.2');
    // The cache first knows only the dead address; the fresh answer (after the failure) has both.
    c.publish('dark.tcp.test', ['127.0.41.2'], 5);
    await ctx.dns.resolve('dark.tcp.test');
    c.publish('dark.tcp.test', ['127.0.41.2', '127.0.41.3'], 5);
    const retries = recordChannel<RetryEvent>(channelNames.retry);
    c.defer(() => retries.stop());

    const started = performance.now();
    const socket = await resilientConnect({ host: 'dark.tcp.test', port: live.port }, ctx); // connectTimeout: 1000 by default
    sockets.push(socket);
    const took = performance.now() - started;
    expect(socket.remoteAddress).toBe('127.0.41.3');
    expect(took).toBeGreaterThanOrEqual(900);
    expect(took).toBeLessThan(3_000);
    expect(retries.events.map((e) => e.message)).toEqual([expect.objectContaining({ address: '127.0.41.2', reason: 'ETIMEDOUT', method: 'CONNECT' })]);

    // The dead address is now ejected: the next connects go straight to the live one.
    const again = performance.now();
    for (let i = 0; i < 3; i++) sockets.push(await resilientConnect({ host: 'dark.tcp.test', port: live.port }, ctx));
    expect(performance.now() - again).toBeLessThan(900);
    expect(sockets.every((s) => s.remoteAddress === '127.0.41.3')).toBe(true);
  });

  it('only a blackholed address: every attempt ends at connectTimeout and the deadline ends the call', async () => {
    const { c, ctx } = await start();
    const port = await freePort('127.0.41.4');
    fw.drop('127.0.41.4');
    c.publish('void.tcp.test', ['127.0.41.4'], 5);

    const started = performance.now();
    const err = await rejection(resilientConnect({ host: 'void.tcp.test', port, connectTimeout: 300, deadline: 1_500 }, ctx));
    const took = performance.now() - started;
    expect(err).toBeInstanceOf(DeadlineExceededError);
    const attempts = (err as DeadlineExceededError).attempts;
    expect(attempts.length).toBeGreaterThanOrEqual(2);
    for (const a of attempts.slice(0, -1)) {
      expect(a).toMatchObject({ address: '127.0.41.4', code: 'ETIMEDOUT' });
      expect(a.durationMs).toBeGreaterThanOrEqual(250);
      expect(a.durationMs).toBeLessThan(1_000);
    }
    expect(took).toBeLessThan(3_000);
  });

  it('an attempt still connecting when the deadline passes is recorded as cut by the deadline, not as an abort', async () => {
    const { c, ctx } = await start();
    const port = await freePort('127.0.41.5');
    fw.drop('127.0.41.5');
    c.publish('cut.tcp.test', ['127.0.41.5'], 5);

    const err = await rejection(resilientConnect({ host: 'cut.tcp.test', port, connectTimeout: 5_000, deadline: 400 }, ctx));
    expect(err).toBeInstanceOf(DeadlineExceededError);
    expect((err as DeadlineExceededError).attempts).toMatchObject([
      { attempt: 1, address: '127.0.41.5', code: 'RIDETHROUGH_DEADLINE_EXCEEDED', maybeSent: false },
    ]);
  });

  it("createResilientLookup + watchSocket: Node's per-address attempt timeout and a driver's own connect timeout both mark a blackholed address bad", async () => {
    const { c, ctx } = await start();
    const lookup = createResilientLookup({}, ctx);
    const live = await startEcho('127.0.41.6');
    c.defer(() => live.kill());
    fw.drop('127.0.41.5');
    fw.drop('127.0.41.7');
    const ejected = recordChannel<EndpointEvent>(channelNames.endpointEjected);
    c.defer(() => ejected.stop());

    // Two addresses, the dark one first: net.connect (autoSelectFamily) gives it 250 ms, then moves on.
    c.publish('eyeballs.tcp.test', ['127.0.41.5', '127.0.41.6'], 5);
    const first = lookup.watchSocket(net.connect({ host: 'eyeballs.tcp.test', port: live.port, lookup }), 'eyeballs.tcp.test');
    sockets.push(first);
    await once(first, 'connect');
    expect(first.remoteAddress).toBe('127.0.41.6');
    expect(ejected.events.map((e) => e.message)).toContainEqual(
      expect.objectContaining({ hostname: 'eyeballs.tcp.test', address: '127.0.41.5', reason: 'ETIMEDOUT' }),
    );
    // The next connects skip it: no 250 ms wait.
    const started = performance.now();
    const second = lookup.watchSocket(net.connect({ host: 'eyeballs.tcp.test', port: live.port, lookup }), 'eyeballs.tcp.test');
    sockets.push(second);
    await once(second, 'connect');
    expect(performance.now() - started).toBeLessThan(200);

    // One address only, and the driver gives up after 300 ms by destroying the socket (no error event).
    c.publish('driver.tcp.test', ['127.0.41.7'], 5);
    const doomed = lookup.watchSocket(net.connect({ host: 'driver.tcp.test', port: live.port, lookup }), 'driver.tcp.test');
    doomed.on('error', () => {});
    await sleep(300);
    expect(doomed.connecting).toBe(true);
    doomed.destroy();
    await once(doomed, 'close');
    expect(ejected.events.map((e) => e.message)).toContainEqual(
      expect.objectContaining({ hostname: 'driver.tcp.test', address: '127.0.41.7', reason: 'ETIMEDOUT' }),
    );
  });
});
