/**
 * A graceful close, as undici's `Agent.close()`: it resolves after every request dispatched before it has
 * ended, those waiting to retry included, which go on retrying as usual; `destroy()` fails them all at once.
 * And the `resilience()` interceptor over an undici Agent that is closed or destroyed: the request fails
 * at once with undici's error, it is not retried until the deadline.
 * Real pods and a real DNS server on UDP loopback, addresses 127.0.154.150–159, port 18150.
 */
import type http from 'node:http';
import { setTimeout as sleep } from 'node:timers/promises';
import { Agent, type Dispatcher, errors, request } from 'undici';
import { describe, expect, it } from 'vitest';
import {
  type AttemptEvent,
  DeadlineExceededError,
  type HedgeEvent,
  type RetryEvent,
  type WaitEvent,
  channelNames,
  resilience,
  type ResilientAgent,
} from '../../src/index.js';
import { rejection, useScope } from '../support/scope.js';

const PORT = 18_150;
const scope = useScope({ dnsAddress: '127.0.154.153', port: PORT, dns: { family: 4, hostsFile: false } });
const { dns, agent: newAgent, pod, watch, watchRetries, dnsOptions, defer } = scope;

/** Nothing listens there: a connect is refused (a pod that is gone). */
const GONE = '127.0.154.150';

async function until(check: () => boolean, what: string, ms = 5_000): Promise<void> {
  const end = Date.now() + ms;
  while (!check()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(5);
  }
}

/** A pod behaviour that holds each response until `release()` (then answers 200 with the pod's name). */
function held(): { behaviour: (req: http.IncomingMessage, res: http.ServerResponse, p: { name: string }) => void; release: () => void } {
  const waiting: (() => void)[] = [];
  let released = false;
  return {
    behaviour: (req, res, p) => {
      req.resume();
      const answer = (): void => {
        if (!res.destroyed) res.end(p.name);
      };
      if (released) answer();
      else waiting.push(answer);
    },
    release: () => {
      released = true;
      for (const fn of waiting.splice(0)) fn();
    },
  };
}

/** A GET through `dispatcher` whose outcome (`response <status> <body>` or `error <code>`) is pushed on `order` when it ends. */
function tracked(dispatcher: Dispatcher, url: string, order: string[]): Promise<unknown> {
  return request(url, { dispatcher }).then(
    async (res) => {
      const body = await res.body.text();
      order.push(`response ${res.statusCode} ${body}`);
    },
    (err: Error & { code?: string }) => {
      order.push(`error ${err.code}`);
      return err;
    },
  );
}

/** close(), with `closed` pushed on `order` when it resolves. */
/**
 * A GET to `host` (DNS lists only `address`, which refuses) through a new agent with `deadline`, parked
 * in the host's waiting room; the order list records how it ends.
 */
async function parkedGet(host: string, deadline: number, address = GONE, ttl = 5) {
  dns.setRecords(host, { a: [address], ttl });
  const agent = newAgent({ deadline });
  const waits = watch<WaitEvent>(channelNames.wait);
  const attempts = watch<AttemptEvent>(channelNames.attempt);
  const order: string[] = [];
  const pending = tracked(agent, `http://${host}:${PORT}/`, order);
  await until(() => waits.length > 0, 'the request to park');
  return { agent, attempts, order, pending };
}

function closing(agent: ResilientAgent, order: string[]): Promise<void> {
  return agent.close().then(() => {
    order.push('closed');
  });
}

describe('close() waits for the requests dispatched before it, those waiting to retry included', () => {
  it('a GET waiting in the room (its only endpoint refused) goes on to the pod DNS lists next; close() resolves after it succeeded', async () => {
    const host = 'moved.close.test';
    const { agent, attempts, order, pending } = await parkedGet(host, 8_000);

    const closed = closing(agent, order);
    expect([agent.closed, agent.destroyed]).toEqual([true, false]);
    // A request after close(): undici's ClientClosedError, nothing sent.
    const sentBefore = attempts.length;
    expect(await rejection(request(`http://${host}:${PORT}/`, { dispatcher: agent }))).toBeInstanceOf(errors.ClientClosedError);
    expect(attempts.length).toBe(sentBefore);

    // The pod moved: DNS lists its new address, and the waiting request goes there (a new endpoint, during the close).
    const b = await pod('b', '127.0.154.151');
    dns.setRecords(host, { a: ['127.0.154.151'], ttl: 5 });
    await Promise.all([pending, closed]);
    expect(order).toEqual(['response 200 b', 'closed']);
    expect(b.count()).toBe(1);
    expect(attempts.at(-1)?.address).toBe('127.0.154.151');
    expect(attempts.slice(0, -1).every((a) => a.address === GONE)).toBe(true);
    expect([agent.closed, agent.destroyed]).toEqual([true, true]);
    // After the close: undici's ClientDestroyedError.
    expect(await rejection(request(`http://${host}:${PORT}/`, { dispatcher: agent }))).toBeInstanceOf(errors.ClientDestroyedError);
  });

  it('a GET waiting for a pod that restarts at the same address: close() resolves after it succeeded there', async () => {
    const host = 'restart.close.test';
    const address = '127.0.154.152';
    const { agent, order, pending } = await parkedGet(host, 8_000, address, 30);
    const closed = closing(agent, order);
    const again = await pod('again', address);
    await Promise.all([pending, closed]);
    expect(order).toEqual(['response 200 again', 'closed']);
    expect(again.count()).toBe(1);
  });

  it('a GET in the backoff of a retried 503 (Retry-After): close() resolves after its retry succeeded', async () => {
    const host = 'busy.close.test';
    let n = 0;
    const p = await pod('busy', '127.0.154.154', (req, res) => {
      req.resume();
      if (++n === 1) {
        res.writeHead(503, { 'retry-after': '1' });
        res.end('busy');
      } else {
        res.end('ok');
      }
    });
    dns.setRecords(host, { a: [p.address], ttl: 30 });
    const agent = newAgent({ deadline: 8_000 });
    const retries = watchRetries();
    const order: string[] = [];
    const pending = tracked(agent, `http://${host}:${PORT}/`, order);
    await until(() => retries.length > 0, 'the 503 to be retried');
    expect(retries[0]).toMatchObject({ reason: 'HTTP 503', delayMs: 1_000 } satisfies Partial<RetryEvent>);
    const closed = closing(agent, order);
    await Promise.all([pending, closed]);
    expect(order).toEqual(['response 200 ok', 'closed']);
    expect(p.count()).toBe(2);
  });

  it('a hedged GET (two attempts on the wire): close() resolves after its response', async () => {
    const host = 'hedged.close.test';
    const hold = held();
    const a = await pod('a', '127.0.154.155', hold.behaviour);
    const b = await pod('b', '127.0.154.156', hold.behaviour);
    dns.setRecords(host, { a: [a.address, b.address], ttl: 30 });
    const agent = newAgent({ deadline: 8_000, hedge: { delay: 20 } });
    const hedges = watch<HedgeEvent>(channelNames.hedge);
    const order: string[] = [];
    const pending = tracked(agent, `http://${host}:${PORT}/`, order);
    await until(() => hedges.length === 1 && a.count() + b.count() === 2, 'the hedge to reach the second pod');
    const closed = closing(agent, order);
    hold.release();
    await Promise.all([pending, closed]);
    expect(order).toHaveLength(2);
    expect(order[0]).toMatch(/^response 200 [ab]$/);
    expect(order[1]).toBe('closed');
  });

  it('a response whose body is still streaming: close() resolves after the body ended', async () => {
    const host = 'stream.close.test';
    let finish: (() => void) | undefined;
    const p = await pod('stream', '127.0.154.157', (req, res) => {
      req.resume();
      res.write('first ');
      finish = () => res.end('last');
    });
    dns.setRecords(host, { a: [p.address], ttl: 30 });
    const agent = newAgent({ deadline: 8_000 });
    const order: string[] = [];
    const res = await request(`http://${host}:${PORT}/`, { dispatcher: agent });
    const body = res.body.text().then((text) => order.push(`body ${text}`));
    const closed = closing(agent, order);
    await until(() => finish !== undefined, 'the pod to answer');
    // Not closed while the body streams (the pools stay open for it).
    await sleep(50);
    expect(order).toEqual([]);
    finish!();
    await Promise.all([body, closed]);
    expect(order).toEqual(['body first last', 'closed']);
  });

  it('a GET waiting while its deadline passes: close() resolves after it failed with its DeadlineExceededError', async () => {
    const host = 'dead.close.test';
    const { agent, order, pending } = await parkedGet(host, 600);
    const closed = closing(agent, order);
    const [err] = await Promise.all([pending, closed]);
    expect(err).toBeInstanceOf(DeadlineExceededError);
    expect((err as DeadlineExceededError).attempts.every((r) => r.address === GONE)).toBe(true);
    expect(order).toEqual(['error RIDETHROUGH_DEADLINE_EXCEEDED', 'closed']);
  });

  it('no request dispatched: close() resolves at once, and a request after it fails with ClientClosedError, then ClientDestroyedError', async () => {
    const agent = newAgent();
    const closed = agent.close();
    expect(await rejection(request(`http://nowhere.close.test:${PORT}/`, { dispatcher: agent }))).toBeInstanceOf(errors.ClientClosedError);
    await closed;
    expect(await rejection(request(`http://nowhere.close.test:${PORT}/`, { dispatcher: agent }))).toBeInstanceOf(errors.ClientDestroyedError);
  });
});

describe('destroy() fails everything at once', () => {
  it('during a pending close: the GET waiting to retry fails with ClientDestroyedError, then destroy() and close() resolve', async () => {
    const host = 'destroyed.close.test';
    const { agent, attempts, order, pending } = await parkedGet(host, 30_000);
    const closed = closing(agent, order);
    const sent = attempts.length;
    const destroyed = agent.destroy().then(() => order.push('destroyed'));
    const [err] = await Promise.all([pending, destroyed, closed]);
    expect(err).toBeInstanceOf(errors.ClientDestroyedError);
    // Failed by destroy() itself (as undici fails the requests queued on a pool it destroys), not at a next attempt.
    expect(order).toEqual(['error UND_ERR_DESTROYED', 'destroyed', 'closed']);
    expect(attempts.length).toBe(sent);
  });

  it('a request on a pool retired by maxConnectionAge (still finishing it) fails too', async () => {
    const host = 'aged.close.test';
    const hold = held();
    const p = await pod('aged', '127.0.154.158', (req, res, self) => {
      if (req.url === '/hold') hold.behaviour(req, res, self);
      else {
        req.resume();
        res.end('quick');
      }
    });
    dns.setRecords(host, { a: [p.address], ttl: 30 });
    const agent = newAgent({ deadline: 30_000, maxConnectionAge: 1_000 });
    defer(() => hold.release());
    const order: string[] = [];
    const slow = tracked(agent, `http://${host}:${PORT}/hold`, order);
    await until(() => p.count() === 1, 'the slow request to arrive');
    // Past the pool's age (1000 ms ± 10 %): the next request gets a fresh pool and the first pool retires, its request still running.
    await sleep(1_300);
    const quick = await request(`http://${host}:${PORT}/quick`, { dispatcher: agent });
    expect(await quick.body.text()).toBe('quick');
    expect(p.connections).toBe(2);
    await agent.destroy();
    const err = await slow;
    expect(err).toBeInstanceOf(errors.ClientDestroyedError);
    expect(order).toEqual(['error UND_ERR_DESTROYED']);
  });
});

describe('resilience() over an undici Agent that is closed or destroyed: the request fails at once with undici’s error', () => {
  const host = 'composed.close.test';

  /** An undici Agent composed with resilience() (deadline far away: a retry would show), and one request held on it. */
  async function composedWithRequestInFlight(): Promise<{ base: Agent; dispatcher: Dispatcher; first: Promise<unknown>; release: () => void }> {
    const hold = held();
    const p = await pod('held', '127.0.154.159', hold.behaviour);
    dns.setRecords(host, { a: [p.address], ttl: 30 });
    const base = new Agent();
    defer(() => (base.destroyed ? undefined : base.destroy()));
    defer(() => hold.release());
    const dispatcher = base.compose(resilience({ dns: dnsOptions(), deadline: 30_000 }));
    const first = tracked(dispatcher, `http://${host}:${PORT}/first`, []);
    await until(() => p.count() === 1, 'the first request to arrive');
    return { base, dispatcher, first, release: hold.release };
  }

  it('closing (a request still in flight on it): ClientClosedError, UND_ERR_CLOSED, after one attempt', async () => {
    const { base, dispatcher, first, release } = await composedWithRequestInFlight();
    const closed = base.close();
    const attempts = watch<AttemptEvent>(channelNames.attempt);
    const retries = watchRetries();
    const err = await rejection(request(`http://${host}:${PORT}/second`, { dispatcher }));
    expect(err).toBeInstanceOf(errors.ClientClosedError);
    expect((err as { code?: string }).code).toBe('UND_ERR_CLOSED');
    expect(attempts).toHaveLength(1);
    expect(retries).toEqual([]);
    release();
    await first;
    await closed;
  });

  it('destroyed: ClientDestroyedError, UND_ERR_DESTROYED, after one attempt', async () => {
    const { base, dispatcher, first } = await composedWithRequestInFlight();
    await base.destroy();
    expect(await first).toBeInstanceOf(errors.ClientDestroyedError);
    const attempts = watch<AttemptEvent>(channelNames.attempt);
    const err = await rejection(request(`http://${host}:${PORT}/second`, { dispatcher }));
    expect(err).toBeInstanceOf(errors.ClientDestroyedError);
    expect((err as { code?: string }).code).toBe('UND_ERR_DESTROYED');
    expect(attempts).toHaveLength(1);
  });

  it('a request waiting to retry when the Agent starts closing fails at its next attempt with ClientClosedError, not at its deadline', async () => {
    const { base, dispatcher, first, release } = await composedWithRequestInFlight();
    const moved = 'moved.composed.close.test';
    dns.setRecords(moved, { a: [GONE], ttl: 5 });
    const waits = watch<WaitEvent>(channelNames.wait);
    const attempts = watch<AttemptEvent>(channelNames.attempt);
    const retries = watchRetries();
    const waiting = rejection(request(`http://${moved}:${PORT}/`, { dispatcher }));
    await until(() => waits.length > 0, 'the request to park');
    const closed = base.close();
    const refused = attempts.length;
    const err = await waiting;
    expect(err).toBeInstanceOf(errors.ClientClosedError);
    // Every attempt before the close was refused and retried; the one after it is the last.
    expect(retries.map((r) => r.reason)).toEqual(Array(refused).fill('ECONNREFUSED'));
    expect(attempts).toHaveLength(refused + 1);
    release();
    await first;
    await closed;
  });
});
