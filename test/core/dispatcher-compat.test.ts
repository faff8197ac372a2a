/**
 * ridethrough's dispatchers work with every way of sending a request: undici's `request`, `stream` and
 * `fetch`; Node's built-in `fetch` (which on Node 22 and 24 passes undici 6/7 handlers, adapted by
 * src/http/legacy-handler.ts, and on Node 26 undici 8 handlers); the global dispatcher; an undici
 * Agent composed with the `resilience()` interceptor; and `agent.with()` views.
 * Run on Node 22, 24 and 26. Real parts only, on 127.0.30.x–127.0.33.x.
 */
import { createHash } from 'node:crypto';
import { type Readable, Writable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import { Agent, type Dispatcher, getGlobalDispatcher, fetch as undiciFetch, request, stream } from 'undici';
import { describe, expect, it } from 'vitest';
import { DeadlineExceededError, NotRetryableError, type ResilientAgent, type RetryEvent, installGlobalDispatcher, resilience } from '../../src/index.js';
import type { Pod, PodBehaviour } from '@ridethrough/testbed';
import { rejection, useScope } from '../support/scope.js';

const PORT = 18_083;
const nodeMajor = Number(process.versions.node.split('.')[0]);
const {
  dns,
  dnsOptions,
  defer,
  agent: newAgent,
  pod,
  fault,
  watchRetries,
} = useScope({
  dnsAddress: '127.0.30.53',
  port: PORT,
  dns: { family: 4, hostsFile: false, reResolveInterval: 0 },
});

/** Node's built-in fetch, typed loosely enough to take a `dispatcher` of another undici copy. */
const builtinFetch = globalThis.fetch as unknown as (input: string, init?: Omit<RequestInit, 'dispatcher'> & { dispatcher?: unknown }) => Promise<Response>;

/** A host whose only address refuses until a pod starts on it at the first refusal. */
async function refusedThenLive(host: string, address: string): Promise<{ pod: () => Promise<Pod>; retries: RetryEvent[] }> {
  dns.setRecords(host, { a: [address] });
  let started: Promise<Pod> | undefined;
  const retries = watchRetries((e) => {
    if (e.reason === 'ECONNREFUSED' && e.address === address) started ??= pod('late', address, echo);
  });
  return {
    retries,
    pod: () => {
      if (!started) throw new Error('the pod never started: no refusal was retried');
      return started;
    },
  };
}

/** Answers 200 with two Set-Cookie headers, a repeated header, and the request body echoed. */
const echo: PodBehaviour = (req, res, p) => {
  const chunks: Buffer[] = [];
  req.on('data', (c: Buffer) => chunks.push(c));
  req.on('end', () => {
    res.setHeader('set-cookie', ['a=1; Path=/', 'b=2; Path=/; HttpOnly']);
    res.setHeader('x-multi', ['one', 'two']);
    res.setHeader('x-pod', p.name);
    res.setHeader('content-type', 'text/plain');
    res.end(`${req.method} ${req.url} host=${req.headers.host} body=${Buffer.concat(chunks).toString()}`);
  });
};

describe('undici APIs with a ResilientAgent', () => {
  it('request()', async () => {
    dns.setRecords('api-request.rt.test', { a: ['127.0.30.1'] });
    await pod('p', '127.0.30.1', echo);
    const agent = newAgent();
    const res = await request(`http://api-request.rt.test:${PORT}/a?b=c`, { method: 'POST', body: 'hello', dispatcher: agent });
    expect(res.statusCode).toBe(200);
    expect(res.headers['set-cookie']).toEqual(['a=1; Path=/', 'b=2; Path=/; HttpOnly']);
    expect(await res.body.text()).toBe(`POST /a?b=c host=api-request.rt.test:${PORT} body=hello`);
  });

  it('stream()', async () => {
    dns.setRecords('api-stream.rt.test', { a: ['127.0.30.2'] });
    await pod('p', '127.0.30.2', echo);
    const agent = newAgent();
    const chunks: Buffer[] = [];
    let status = 0;
    await stream(`http://api-stream.rt.test:${PORT}/s`, { method: 'GET', dispatcher: agent, opaque: chunks }, ({ statusCode, opaque }) => {
      status = statusCode;
      return new Writable({
        write(chunk: Buffer, _enc, cb) {
          (opaque as Buffer[]).push(chunk);
          cb();
        },
      });
    });
    expect(status).toBe(200);
    expect(Buffer.concat(chunks).toString()).toBe(`GET /s host=api-stream.rt.test:${PORT} body=`);
  });

  it('fetch()', async () => {
    dns.setRecords('api-fetch.rt.test', { a: ['127.0.30.3'] });
    await pod('p', '127.0.30.3', echo);
    const agent = newAgent();
    const res = await undiciFetch(`http://api-fetch.rt.test:${PORT}/f`, { method: 'PUT', body: 'data', dispatcher: agent });
    expect(res.status).toBe(200);
    expect(res.headers.getSetCookie()).toEqual(['a=1; Path=/', 'b=2; Path=/; HttpOnly']);
    expect(await res.text()).toBe(`PUT /f host=api-fetch.rt.test:${PORT} body=data`);
  });

  it('request() rides through a refused address, with a streaming upload that was never read', async () => {
    const { pod: late, retries } = await refusedThenLive('api-refused.rt.test', '127.0.30.4');
    const agent = newAgent();
    async function* body(): AsyncGenerator<string> {
      yield 'x-';
      yield 'y';
    }
    // undici's types omit async iterables, which it accepts as request bodies.
    const res = await request(`http://api-refused.rt.test:${PORT}/r`, { method: 'POST', body: body() as unknown as Readable, dispatcher: agent });
    expect(res.statusCode).toBe(200);
    expect(await res.body.text()).toBe(`POST /r host=api-refused.rt.test:${PORT} body=x-y`);
    expect(retries.length).toBeGreaterThanOrEqual(1);
    expect((await late()).count('POST')).toBe(1);
  });
});

describe(`Node's built-in fetch (Node ${process.versions.node}, bundled undici ${process.versions.undici ?? '?'})`, () => {
  it('sends through the agent: status, repeated headers and Set-Cookie values, body', async () => {
    dns.setRecords('builtin.rt.test', { a: ['127.0.31.1'] });
    await pod('p', '127.0.31.1', echo);
    const agent = newAgent();
    // Record the handler shape the built-in fetch hands over (the agent itself does the work).
    const shapes: string[] = [];
    const probe = Object.create(agent) as ResilientAgent;
    probe.dispatch = (opts, handler) => {
      shapes.push(typeof (handler as { onRequestStart?: unknown }).onRequestStart === 'function' ? 'undici 8' : 'legacy');
      return agent.dispatch(opts, handler);
    };
    const res = await builtinFetch(`http://builtin.rt.test:${PORT}/x`, { method: 'POST', body: 'payload', dispatcher: probe });
    // Node 22 and 24 bundle undici 6 and 7 (onConnect/onHeaders/...): the legacy adapter is what runs there.
    expect(shapes).toEqual([nodeMajor >= 26 ? 'undici 8' : 'legacy']);
    expect(res.status).toBe(200);
    expect(res.statusText).toBe('OK');
    expect(res.headers.getSetCookie()).toEqual(['a=1; Path=/', 'b=2; Path=/; HttpOnly']);
    expect(res.headers.get('x-multi')).toBe('one, two');
    expect(res.headers.get('x-pod')).toBe('p');
    expect(await res.text()).toBe(`POST /x host=builtin.rt.test:${PORT} body=payload`);
  });

  it('follows a redirect through the agent', async () => {
    dns.setRecords('builtin-redirect.rt.test', { a: ['127.0.31.2'] });
    await pod('p', '127.0.31.2', (req, res, p) => {
      if (req.url === '/old') {
        req.resume();
        res.writeHead(302, { location: '/new' });
        res.end();
        return;
      }
      echo(req, res, p);
    });
    const agent = newAgent();
    const res = await builtinFetch(`http://builtin-redirect.rt.test:${PORT}/old`, { dispatcher: agent });
    expect(res.status).toBe(200);
    expect(res.redirected).toBe(true);
    expect(await res.text()).toBe(`GET /new host=builtin-redirect.rt.test:${PORT} body=`);
  });

  it('streams the response body: the first chunk arrives before the server sends the second', async () => {
    dns.setRecords('builtin-stream.rt.test', { a: ['127.0.31.3'] });
    let clientGotFirst: () => void = () => {};
    const gotFirst = new Promise<void>((resolve) => {
      clientGotFirst = resolve;
    });
    const order: string[] = [];
    await pod('p', '127.0.31.3', (req, res) => {
      req.resume();
      res.writeHead(200, { 'content-type': 'text/plain' });
      res.write('first;');
      order.push('server sent first');
      void Promise.race([gotFirst, sleep(5_000)]).then(() => {
        order.push('server sends second');
        res.end('second');
      });
    });
    const agent = newAgent();
    const res = await builtinFetch(`http://builtin-stream.rt.test:${PORT}/`, { dispatcher: agent });
    const reader = res.body!.getReader();
    const decoder = new TextDecoder();
    let text = '';
    while (!text.includes('first;')) {
      const { value, done } = await reader.read();
      if (done) break;
      text += decoder.decode(value, { stream: true });
    }
    order.push('client got first');
    clientGotFirst();
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      text += decoder.decode(value, { stream: true });
    }
    expect(text).toBe('first;second');
    expect(order).toEqual(['server sent first', 'client got first', 'server sends second']);
  });

  it('delivers a large body intact when the reader is slow (pause/resume)', async () => {
    dns.setRecords('builtin-large.rt.test', { a: ['127.0.31.4'] });
    const big = Buffer.alloc(16 * 1024 * 1024);
    for (let i = 0; i < big.length; i += 4) big.writeUInt32LE(i, i);
    const digest = createHash('sha256').update(big).digest('hex');
    await pod('p', '127.0.31.4', (req, res) => {
      req.resume();
      res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': big.length });
      res.end(big);
    });
    const agent = newAgent();
    const res = await builtinFetch(`http://builtin-large.rt.test:${PORT}/`, { dispatcher: agent });
    // Let the client's buffers fill so the handler has to pause the connection.
    await sleep(300);
    const received = Buffer.from(await res.arrayBuffer());
    expect(received.length).toBe(big.length);
    expect(createHash('sha256').update(received).digest('hex')).toBe(digest);
  });

  it('an abort before the response headers rejects with AbortError and closes the connection', async () => {
    dns.setRecords('builtin-abort.rt.test', { a: ['127.0.31.5'] });
    const p = await pod('p', '127.0.31.5', () => {});
    const agent = newAgent();
    const controller = new AbortController();
    setTimeout(() => controller.abort(), 200);
    const started = performance.now();
    const err = await rejection(builtinFetch(`http://builtin-abort.rt.test:${PORT}/`, { dispatcher: agent, signal: controller.signal }));
    expect((err as Error).name).toBe('AbortError');
    expect(performance.now() - started).toBeLessThan(2_000);
    await expect.poll(() => p.sockets.size, { timeout: 2_000 }).toBe(0);
    expect(p.count()).toBe(1);
  });

  it('an abort while the body streams rejects the read with AbortError and closes the connection', async () => {
    dns.setRecords('builtin-abort-body.rt.test', { a: ['127.0.31.6'] });
    const p = await pod('p', '127.0.31.6', (req, res) => {
      req.resume();
      res.writeHead(200, { 'content-type': 'text/plain' });
      res.write('part one');
    });
    const agent = newAgent();
    const controller = new AbortController();
    const res = await builtinFetch(`http://builtin-abort-body.rt.test:${PORT}/`, { dispatcher: agent, signal: controller.signal });
    const reader = res.body!.getReader();
    const first = await reader.read();
    expect(new TextDecoder().decode(first.value)).toBe('part one');
    controller.abort();
    const err = await rejection(reader.read());
    expect((err as Error).name).toBe('AbortError');
    await expect.poll(() => p.sockets.size, { timeout: 2_000 }).toBe(0);
  });

  it('a connection reset mid-body errors the body stream, and the request is not retried', async () => {
    dns.setRecords('builtin-midbody.rt.test', { a: ['127.0.31.13'] });
    const f = await fault('127.0.31.13', { mode: 'reset-mid-body' });
    const agent = newAgent();
    const res = await builtinFetch(`http://builtin-midbody.rt.test:${PORT}/`, { dispatcher: agent });
    expect(res.status).toBe(200);
    const err = await rejection(res.text());
    expect(err).toBeInstanceOf(TypeError);
    await sleep(200);
    expect(f.count()).toBe(1);
  });

  it('HEAD and 204 responses complete without a body', async () => {
    dns.setRecords('builtin-empty.rt.test', { a: ['127.0.31.14'] });
    await pod('p', '127.0.31.14', (req, res) => {
      req.resume();
      if (req.method === 'HEAD') {
        res.writeHead(200, { 'content-length': '42', 'x-head': 'yes' });
        res.end();
        return;
      }
      res.writeHead(204);
      res.end();
    });
    const agent = newAgent();
    const head = await builtinFetch(`http://builtin-empty.rt.test:${PORT}/`, { method: 'HEAD', dispatcher: agent });
    expect(head.status).toBe(200);
    expect(head.headers.get('x-head')).toBe('yes');
    expect(await head.text()).toBe('');
    const none = await builtinFetch(`http://builtin-empty.rt.test:${PORT}/`, { method: 'DELETE', dispatcher: agent });
    expect(none.status).toBe(204);
    expect(await none.text()).toBe('');
  });

  it('rides through a refused address, and resends a POST body that was never read', async () => {
    const { pod: late } = await refusedThenLive('builtin-refused.rt.test', '127.0.31.7');
    const agent = newAgent();
    const res = await builtinFetch(`http://builtin-refused.rt.test:${PORT}/r`, { method: 'POST', body: 'once', dispatcher: agent });
    expect(res.status).toBe(200);
    expect(await res.text()).toBe(`POST /r host=builtin-refused.rt.test:${PORT} body=once`);
    expect((await late()).count('POST')).toBe(1);
  });

  it('a failure is "fetch failed" with the ridethrough error as cause (agent.with deadline)', async () => {
    dns.setRecords('builtin-dead.rt.test', { a: ['127.0.31.8', '127.0.31.9'] });
    const agent = newAgent({ maxAttempts: 1000, backoff: { initialDelay: 10, maxDelay: 50 } });
    const started = performance.now();
    const err = await rejection(builtinFetch(`http://builtin-dead.rt.test:${PORT}/`, { dispatcher: agent.with({ deadline: 400 }) }));
    expect(err).toBeInstanceOf(TypeError);
    const cause = (err as Error).cause;
    expect(cause).toBeInstanceOf(DeadlineExceededError);
    expect((cause as DeadlineExceededError).deadlineMs).toBe(400);
    expect(performance.now() - started).toBeLessThan(2_000);
  });

  it('never re-sends a POST body that was already sent, even through agent.with({ idempotent: true }) (fetch bodies are one-shot)', async () => {
    dns.setRecords('builtin-oneshot.rt.test', { a: ['127.0.31.10'] });
    const bad = await fault('127.0.31.10');
    const agent = newAgent();
    const err = await rejection(
      builtinFetch(`http://builtin-oneshot.rt.test:${PORT}/`, { method: 'POST', body: 'once', dispatcher: agent.with({ idempotent: true }) }),
    );
    const cause = (err as Error).cause;
    expect(cause).toBeInstanceOf(NotRetryableError);
    expect((cause as NotRetryableError).reason).toBe('body-not-replayable');
    await sleep(200);
    expect(bad.count('POST')).toBe(1);
  });

  it('a GET through agent.with({ idempotent: true }) is retried after a reset', async () => {
    const host = 'builtin-get-reset.rt.test';
    const good = await pod('healthy', '127.0.31.12', echo);
    const bad = await fault('127.0.31.11', { onRequest: () => dns.setRecords(host, { a: ['127.0.31.11', '127.0.31.12'] }) });
    dns.setRecords(host, { a: ['127.0.31.11'] });
    const agent = newAgent();
    const res = await builtinFetch(`http://${host}:${PORT}/g`, { dispatcher: agent.with({ idempotent: true, deadline: 5_000 }) });
    expect(res.status).toBe(200);
    expect(res.headers.get('x-pod')).toBe('healthy');
    await res.text();
    expect(bad.count()).toBe(1);
    expect(good.count()).toBe(1);
  });
});

describe('installGlobalDispatcher', () => {
  it("makes the agent the dispatcher of the built-in fetch and undici's request(), and restores the previous ones", async () => {
    // IP literals: even if installation failed, nothing would go to the machine's resolver.
    const p = await pod('p', '127.0.32.1', echo);
    const agent = newAgent();
    const legacyKey = Symbol.for('undici.globalDispatcher.1');
    const before = { current: getGlobalDispatcher(), legacy: (globalThis as Record<symbol, unknown>)[legacyKey] };
    const attempts = (): number =>
      Object.values(agent.stats)
        .flatMap((o) => o.endpoints)
        .reduce((n, e) => n + e.attempts, 0);
    const restore = installGlobalDispatcher(agent);
    try {
      expect(getGlobalDispatcher()).toBe(agent);
      const res = await builtinFetch(`http://127.0.32.1:${PORT}/builtin`);
      expect(await res.text()).toBe(`GET /builtin host=127.0.32.1:${PORT} body=`);
      expect(attempts()).toBe(1);
      const res2 = await request(`http://127.0.32.1:${PORT}/undici`);
      expect(await res2.body.text()).toBe(`GET /undici host=127.0.32.1:${PORT} body=`);
      expect(attempts()).toBe(2);
      const res3 = await undiciFetch(`http://127.0.32.1:${PORT}/undici-fetch`);
      await res3.text();
      expect(attempts()).toBe(3);
    } finally {
      restore();
    }
    expect(getGlobalDispatcher()).toBe(before.current);
    expect((globalThis as Record<symbol, unknown>)[legacyKey]).toBe(before.legacy);
    const after = await builtinFetch(`http://127.0.32.1:${PORT}/after`);
    await after.text();
    const after2 = await request(`http://127.0.32.1:${PORT}/after2`);
    await after2.body.text();
    expect(attempts()).toBe(3);
    expect(p.count()).toBe(5);
  });
});

describe('an undici Agent composed with resilience()', () => {
  it('rides through a refused address and keeps the Host header (request, undici fetch)', async () => {
    const host = 'compose.rt.test';
    const live = await pod('live', '127.0.33.2', echo);
    dns.setRecords(host, { a: ['127.0.33.1'] });
    // The first refusal of the dead address "moves the pod": DNS now lists the live one as well.
    const retries = watchRetries((e) => {
      if (e.address === '127.0.33.1') dns.setRecords(host, { a: ['127.0.33.1', '127.0.33.2'] });
    });
    const dispatcher = new Agent({ connect: { timeout: 1_000 } }).compose(resilience({ dns: dnsOptions() }));
    defer(() => dispatcher.close());
    const res = await request(`http://${host}:${PORT}/c`, { method: 'POST', body: 'composed', dispatcher });
    expect(res.statusCode).toBe(200);
    expect(await res.body.text()).toBe(`POST /c host=${host}:${PORT} body=composed`);
    expect(retries.some((r) => r.reason === 'ECONNREFUSED' && r.address === '127.0.33.1')).toBe(true);
    expect(live.count('POST')).toBe(1);
    const res2 = await undiciFetch(`http://${host}:${PORT}/f`, { dispatcher });
    expect(await res2.text()).toBe(`GET /f host=${host}:${PORT} body=`);
  });

  it('gives up at a per-request deadline with the ridethrough error', async () => {
    dns.setRecords('compose-dead.rt.test', { a: ['127.0.33.3'] });
    const dispatcher = new Agent().compose(resilience({ dns: dnsOptions(), maxAttempts: 1000, backoff: { initialDelay: 10, maxDelay: 50 } }));
    defer(() => dispatcher.close());
    const err = await rejection(
      request(`http://compose-dead.rt.test:${PORT}/`, { dispatcher, ridethrough: { deadline: 300 } } as Parameters<typeof request>[1]),
    );
    expect(err).toBeInstanceOf(DeadlineExceededError);
    expect((err as DeadlineExceededError).deadlineMs).toBe(300);
  });

  it(`works as the dispatcher of Node's built-in fetch`, async () => {
    dns.setRecords('compose-builtin.rt.test', { a: ['127.0.33.4'] });
    await pod('p', '127.0.33.4', echo);
    const dispatcher: Dispatcher = new Agent().compose(resilience({ dns: dnsOptions() }));
    defer(() => dispatcher.close());
    const res = await builtinFetch(`http://compose-builtin.rt.test:${PORT}/b`, { method: 'POST', body: 'hi', dispatcher });
    expect(res.headers.getSetCookie()).toHaveLength(2);
    expect(await res.text()).toBe(`POST /b host=compose-builtin.rt.test:${PORT} body=hi`);
  });
});

describe('agent.with()', () => {
  it('applies its deadline to request() and leaves the agent unchanged', async () => {
    dns.setRecords('with-dead.rt.test', { a: ['127.0.33.10'] });
    const agent = newAgent({ deadline: 30_000, maxAttempts: 1000, backoff: { initialDelay: 10, maxDelay: 50 } });
    const view = agent.with({ deadline: 300 });
    const started = performance.now();
    const err = await rejection(request(`http://with-dead.rt.test:${PORT}/`, { dispatcher: view }));
    expect(err).toBeInstanceOf(DeadlineExceededError);
    expect((err as DeadlineExceededError).deadlineMs).toBe(300);
    expect(performance.now() - started).toBeLessThan(2_000);
    // Closing a view does not close the agent.
    await view.close();
    dns.setRecords('with-live.rt.test', { a: ['127.0.33.11'] });
    await pod('p', '127.0.33.11', echo);
    const res = await request(`http://with-live.rt.test:${PORT}/ok`, { dispatcher: agent });
    expect(res.statusCode).toBe(200);
    await res.body.text();
  });

  it('is usable with undici fetch and stream', async () => {
    dns.setRecords('with-apis.rt.test', { a: ['127.0.33.12'] });
    await pod('p', '127.0.33.12', echo);
    const agent = newAgent();
    const view = agent.with({ deadline: 2_000, maxAttempts: 3 });
    const res = await undiciFetch(`http://with-apis.rt.test:${PORT}/w`, { dispatcher: view });
    expect(await res.text()).toBe(`GET /w host=with-apis.rt.test:${PORT} body=`);
    const chunks: Buffer[] = [];
    await stream(
      `http://with-apis.rt.test:${PORT}/s`,
      { method: 'GET', dispatcher: view },
      () =>
        new Writable({
          write: (c: Buffer, _e, cb) => {
            chunks.push(c);
            cb();
          },
        }),
    );
    expect(Buffer.concat(chunks).toString()).toBe(`GET /s host=with-apis.rt.test:${PORT} body=`);
  });
});

it('runs on a supported Node line', () => {
  expect([22, 24, 26]).toContain(nodeMajor);
});
