/**
 * A request that may have reached the server is never sent twice unless it is idempotent; a request
 * that surely did not (refused connection, unread streaming body) is retried, whatever its method.
 * Real parts only: a UDP DNS server, HTTP pods and a raw TCP fault server on 127.0.20.x–127.0.23.x.
 */
import { Readable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import { FormData as UndiciFormData, Response, request } from 'undici';
import { describe, expect, it } from 'vitest';
import { NotRetryableError, createResilientFetch } from '../../src/index.js';
import { errorCode } from '../../src/policy/failure.js';
import type { FaultServer } from '../support/fault-server.js';
import type { Pod } from '@ridethrough/testbed';
import { rejection, useScope } from '../support/scope.js';

const PORT = 18_080;
const {
  dns,
  agent: newAgent,
  pod,
  fault,
  watchRetries,
} = useScope({
  dnsAddress: '127.0.20.53',
  port: PORT,
  dns: { family: 4, reResolveInterval: 0, hostsFile: false },
});

/** A fault server that, on its first request, moves DNS to list a healthy replica too (the pod moved). */
async function faultThenHealthy(host: string, faultIp: string, healthyIp: string): Promise<{ bad: FaultServer; good: Pod }> {
  const good = await pod('healthy', healthyIp);
  const bad = await fault(faultIp, {
    mode: 'reset',
    onRequest: () => dns.setRecords(host, { a: [faultIp, healthyIp], ttl: 5 }),
  });
  dns.setRecords(host, { a: [faultIp], ttl: 5 });
  return { bad, good };
}

function expectNotRetryable(err: unknown, reason: NotRetryableError['reason']): asserts err is NotRetryableError {
  expect(err).toBeInstanceOf(NotRetryableError);
  const e = err as NotRetryableError;
  expect(e.code).toBe('RIDETHROUGH_NOT_RETRYABLE');
  expect(e.reason).toBe(reason);
  expect(['ECONNRESET', 'UND_ERR_SOCKET']).toContain(errorCode(e.cause));
  expect(e.attempts).toHaveLength(1);
  expect(e.attempts[0]!.maybeSent).toBe(true);
}

describe('a POST whose connection was refused', () => {
  it('is retried on the live address when DNS lists a dead one first, and reaches the server once', async () => {
    const host = 'refused-first.rt.test';
    dns.setRecords(host, { a: ['127.0.20.1', '127.0.20.2'], ttl: 5 });
    const live = await pod('live', '127.0.20.2');
    const retries = watchRetries();
    // Endpoint choice is randomised, so use fresh agents until one tried the dead address first.
    let sent = 0;
    for (let i = 0; i < 40 && !retries.some((r) => r.address === '127.0.20.1'); i++) {
      const agent = newAgent();
      const res = await request(`http://${host}:${PORT}/orders`, { method: 'POST', body: `order-${i}`, dispatcher: agent });
      expect(res.statusCode).toBe(200);
      expect(await res.body.text()).toBe('live');
      sent++;
      await agent.close();
    }
    const refused = retries.filter((r) => r.address === '127.0.20.1');
    expect(refused.length).toBe(1);
    expect(refused[0]!.reason).toBe('ECONNREFUSED');
    expect(refused[0]!.method).toBe('POST');
    expect(live.count('POST')).toBe(sent);
    expect(live.requests.map((r) => r.body)).toEqual(Array.from({ length: sent }, (_, i) => `order-${i}`));
  });

  it('is retried until its only pod starts listening, and reaches it once', async () => {
    const host = 'starts-later.rt.test';
    const address = '127.0.20.3';
    dns.setRecords(host, { a: [address], ttl: 5 });
    let started: Promise<Pod> | undefined;
    const retries = watchRetries((e) => {
      if (e.reason === 'ECONNREFUSED') started ??= pod('late', address);
    });
    const agent = newAgent();
    const res = await request(`http://${host}:${PORT}/orders`, { method: 'POST', body: 'late order', dispatcher: agent });
    expect(res.statusCode).toBe(200);
    expect(await res.body.text()).toBe('late');
    const late = await started!;
    expect(retries.length).toBeGreaterThanOrEqual(1);
    expect(retries.every((r) => r.reason === 'ECONNREFUSED')).toBe(true);
    expect(late.count('POST')).toBe(1);
    expect(late.requests[0]!.body).toBe('late order');
  });
});

describe('a POST whose connection was reset after the request was written', () => {
  it('is not re-sent through resilientFetch: NotRetryableError (not-idempotent) is thrown directly', async () => {
    const host = 'reset-fetch.rt.test';
    dns.setRecords(host, { a: ['127.0.20.10'], ttl: 5 });
    const bad = await fault('127.0.20.10');
    const fetch = createResilientFetch({ agent: newAgent() });
    const err = await rejection(fetch(`http://${host}:${PORT}/pay`, { method: 'POST', body: 'charge 10 EUR' }));
    expectNotRetryable(err, 'not-idempotent');
    expect(err.attempts[0]!.address).toBe('127.0.20.10');
    await sleep(300);
    expect(bad.count('POST')).toBe(1);
    expect(bad.requests[0]!.body.toString()).toBe('charge 10 EUR');
  });

  it('is not re-sent through undici request() with the agent', async () => {
    const host = 'reset-request.rt.test';
    dns.setRecords(host, { a: ['127.0.20.11'], ttl: 5 });
    const bad = await fault('127.0.20.11');
    const agent = newAgent();
    const err = await rejection(request(`http://${host}:${PORT}/pay`, { method: 'POST', body: 'charge 20 EUR', dispatcher: agent }));
    expectNotRetryable(err, 'not-idempotent');
    await sleep(300);
    expect(bad.count('POST')).toBe(1);
  });

  it('is not re-sent when the server closes the connection (FIN) without answering', async () => {
    const host = 'close-request.rt.test';
    dns.setRecords(host, { a: ['127.0.20.12', '127.0.20.13'], ttl: 5 });
    const a = await fault('127.0.20.12', { mode: 'close' });
    const b = await fault('127.0.20.13', { mode: 'close' });
    const agent = newAgent();
    const err = await rejection(request(`http://${host}:${PORT}/pay`, { method: 'POST', body: 'once', dispatcher: agent }));
    expectNotRetryable(err, 'not-idempotent');
    await sleep(300);
    expect(a.count() + b.count()).toBe(1);
  });
});

describe('a request that may have reached the server but is idempotent', () => {
  it('is retried on a healthy replica when it carries an Idempotency-Key', async () => {
    const host = 'idem-key.rt.test';
    const { bad, good } = await faultThenHealthy(host, '127.0.21.1', '127.0.21.2');
    const agent = newAgent();
    const res = await request(`http://${host}:${PORT}/pay`, {
      method: 'POST',
      body: 'charge 30 EUR',
      headers: { 'idempotency-key': 'k-1' },
      dispatcher: agent,
    });
    expect(res.statusCode).toBe(200);
    expect(await res.body.text()).toBe('healthy');
    expect(bad.count('POST') + good.count('POST')).toBe(2);
    expect(bad.count('POST')).toBe(1);
    expect(good.requests[0]!.body).toBe('charge 30 EUR');
    expect(good.requests[0]!.headers['idempotency-key']).toBe('k-1');
  });

  it('is retried when marked ridethrough: { idempotent: true } (resilientFetch and request())', async () => {
    const host = 'idem-flag.rt.test';
    const { bad, good } = await faultThenHealthy(host, '127.0.21.3', '127.0.21.4');
    const fetch = createResilientFetch({ agent: newAgent() });
    const res = await fetch(`http://${host}:${PORT}/pay`, { method: 'POST', body: 'flagged', ridethrough: { idempotent: true } });
    expect(res.status).toBe(200);
    expect(await res.text()).toBe('healthy');
    expect(bad.count('POST')).toBe(1);
    expect(good.count('POST')).toBe(1);
    expect(good.requests[0]!.body).toBe('flagged');

    const host2 = 'idem-flag2.rt.test';
    const second = await faultThenHealthy(host2, '127.0.21.5', '127.0.21.6');
    const agent = newAgent();
    const res2 = await request(`http://${host2}:${PORT}/pay`, {
      method: 'POST',
      body: 'flagged too',
      dispatcher: agent,
      ridethrough: { idempotent: true },
    } as Parameters<typeof request>[1]);
    expect(res2.statusCode).toBe(200);
    await res2.body.text();
    expect(second.bad.count('POST')).toBe(1);
    expect(second.good.count('POST')).toBe(1);
  });

  it('is retried when it is a GET', async () => {
    const host = 'idem-get.rt.test';
    const { bad, good } = await faultThenHealthy(host, '127.0.21.7', '127.0.21.8');
    const agent = newAgent();
    const res = await request(`http://${host}:${PORT}/items/1`, { dispatcher: agent });
    expect(res.statusCode).toBe(200);
    expect(await res.body.text()).toBe('healthy');
    expect(bad.count('GET')).toBe(1);
    expect(good.count('GET')).toBe(1);
  });

  it('is not retried when a GET is marked ridethrough: { idempotent: false }', async () => {
    const host = 'idem-get-false.rt.test';
    const { bad, good } = await faultThenHealthy(host, '127.0.21.9', '127.0.21.10');
    const fetch = createResilientFetch({ agent: newAgent() });
    const err = await rejection(fetch(`http://${host}:${PORT}/items/1`, { ridethrough: { idempotent: false } }));
    expectNotRetryable(err, 'not-idempotent');
    await sleep(200);
    expect(bad.count()).toBe(1);
    expect(good.count()).toBe(0);
  });
});

describe('methods given in lower case', () => {
  // HTTP methods are case-sensitive on the wire; ridethrough classifies them case-insensitively, as
  // undici's own retry handler does, so a lower-case method is neither more nor less retryable.
  it('a lower-case put is idempotent: retried on the other replica after a reset', async () => {
    const host = 'lower-put.rt.test';
    dns.setRecords(host, { a: ['127.0.22.50', '127.0.22.51'], ttl: 5 });
    const a = await fault('127.0.22.50');
    const b = await fault('127.0.22.51');
    const retries = watchRetries();
    const agent = newAgent({ maxAttempts: 2 });
    await rejection(request(`http://${host}:${PORT}/items/7`, { method: 'put', body: 'v', dispatcher: agent }));
    await sleep(200);
    expect(a.count('put')).toBe(1);
    expect(b.count('put')).toBe(1);
    expect(retries.map((r) => r.method)).toEqual(['PUT']);
  });

  it('a lower-case post that may have reached the server is not re-sent', async () => {
    const host = 'lower-post.rt.test';
    dns.setRecords(host, { a: ['127.0.22.52', '127.0.22.53'], ttl: 5 });
    const a = await fault('127.0.22.52');
    const b = await fault('127.0.22.53');
    const agent = newAgent();
    const err = await rejection(request(`http://${host}:${PORT}/pay`, { method: 'post', body: 'once', dispatcher: agent }));
    expectNotRetryable(err, 'not-idempotent');
    await sleep(200);
    expect(a.count('post') + b.count('post')).toBe(1);
  });
});

describe('streaming request bodies', () => {
  it('are not re-sent once read, even with an Idempotency-Key (reason body-not-replayable)', async () => {
    const host = 'stream-read.rt.test';
    const { bad, good } = await faultThenHealthy(host, '127.0.22.1', '127.0.22.2');
    const agent = newAgent();
    const err = await rejection(
      request(`http://${host}:${PORT}/upload`, {
        method: 'POST',
        body: Readable.from(['part-1;', 'part-2']),
        headers: { 'idempotency-key': 'k-2' },
        dispatcher: agent,
      }),
    );
    expectNotRetryable(err, 'body-not-replayable');
    await sleep(200);
    expect(bad.count('POST')).toBe(1);
    expect(bad.requests[0]!.body.toString()).toBe('part-1;part-2');
    expect(good.count()).toBe(0);
  });

  it('are not re-sent once read when given as an async generator', async () => {
    const host = 'stream-gen.rt.test';
    const { bad, good } = await faultThenHealthy(host, '127.0.22.3', '127.0.22.4');
    const agent = newAgent();
    async function* parts(): AsyncGenerator<Buffer> {
      yield Buffer.from('gen-1;');
      await sleep(5);
      yield Buffer.from('gen-2');
    }
    const err = await rejection(request(`http://${host}:${PORT}/upload`, { method: 'PUT', body: parts() as unknown as Readable, dispatcher: agent }));
    expectNotRetryable(err, 'body-not-replayable');
    await sleep(200);
    expect(bad.count('PUT')).toBe(1);
    expect(bad.requests[0]!.body.toString()).toBe('gen-1;gen-2');
    expect(good.count()).toBe(0);
  });

  it('are retried when the connection was refused (the body was never read)', async () => {
    const host = 'stream-refused.rt.test';
    const address = '127.0.22.5';
    dns.setRecords(host, { a: [address], ttl: 5 });
    let started: Promise<Pod> | undefined;
    const retries = watchRetries((e) => {
      if (e.reason === 'ECONNREFUSED') started ??= pod('late', address);
    });
    const agent = newAgent();
    const res = await request(`http://${host}:${PORT}/upload`, { method: 'POST', body: Readable.from(['s-1;', 's-2;', 's-3']), dispatcher: agent });
    expect(res.statusCode).toBe(200);
    await res.body.text();
    const late = await started!;
    expect(retries.length).toBeGreaterThanOrEqual(1);
    expect(late.count('POST')).toBe(1);
    expect(late.requests[0]!.body).toBe('s-1;s-2;s-3');
  });

  it('are retried when the connection was refused, given as an async generator', async () => {
    const host = 'stream-gen-refused.rt.test';
    const address = '127.0.22.6';
    dns.setRecords(host, { a: [address], ttl: 5 });
    let started: Promise<Pod> | undefined;
    watchRetries((e) => {
      if (e.reason === 'ECONNREFUSED') started ??= pod('late', address);
    });
    async function* parts(): AsyncGenerator<string> {
      yield 'g-1;';
      yield 'g-2';
    }
    const agent = newAgent();
    // undici's types omit async iterables, which it accepts as request bodies.
    const res = await request(`http://${host}:${PORT}/upload`, { method: 'POST', body: parts() as unknown as Readable, dispatcher: agent });
    expect(res.statusCode).toBe(200);
    await res.body.text();
    const late = await started!;
    expect(late.count('POST')).toBe(1);
    expect(late.requests[0]!.body).toBe('g-1;g-2');
  });
});

describe('replayable bodies through resilientFetch', () => {
  const cases: { name: string; body: () => string | Uint8Array | URLSearchParams | Blob; expected: Buffer; type: string | undefined }[] = [
    { name: 'string', body: () => 'héllo wörld', expected: Buffer.from('héllo wörld'), type: 'text/plain;charset=UTF-8' },
    { name: 'Uint8Array', body: () => new Uint8Array([0, 1, 2, 253, 254, 255]), expected: Buffer.from([0, 1, 2, 253, 254, 255]), type: undefined },
    {
      name: 'URLSearchParams',
      body: () => new URLSearchParams({ a: '1', b: 'x y' }),
      expected: Buffer.from('a=1&b=x+y'),
      type: 'application/x-www-form-urlencoded;charset=UTF-8',
    },
    { name: 'Blob', body: () => new Blob(['{"n":1}'], { type: 'application/json' }), expected: Buffer.from('{"n":1}'), type: 'application/json' },
  ];
  let n = 0;
  for (const c of cases) {
    it(`arrive intact on the retry: ${c.name}`, async () => {
      n++;
      const host = `replay-${n}.rt.test`;
      const { bad, good } = await faultThenHealthy(host, `127.0.23.${n * 2}`, `127.0.23.${n * 2 + 1}`);
      const fetch = createResilientFetch({ agent: newAgent() });
      const res = await fetch(`http://${host}:${PORT}/echo`, { method: 'POST', body: c.body(), ridethrough: { idempotent: true } });
      expect(res.status).toBe(200);
      await res.text();
      expect(bad.count('POST')).toBe(1);
      expect(good.count('POST')).toBe(1);
      // The fault server keeps raw bytes; the pod log decodes them as UTF-8 (lossy for arbitrary bytes).
      expect(bad.requests[0]!.body).toEqual(c.expected);
      expect(good.requests[0]!.body).toBe(c.expected.toString());
      expect(Number(good.requests[0]!.headers['content-length'])).toBe(c.expected.length);
      expect(bad.requests[0]!.headers['content-type']).toBe(c.type);
      expect(good.requests[0]!.headers['content-type']).toBe(c.type);
    });
  }

  const forms: { name: string; make: () => FormData }[] = [
    { name: "Node's global FormData", make: () => new FormData() },
    { name: "undici's FormData", make: () => new UndiciFormData() as unknown as FormData },
  ];
  let m = 0;
  for (const f of forms) {
    it(`arrive intact on the retry: ${f.name} with a file part`, async () => {
      m++;
      const host = `replay-form-${m}.rt.test`;
      const { bad, good } = await faultThenHealthy(host, `127.0.23.${100 + m * 2}`, `127.0.23.${101 + m * 2}`);
      const form = f.make();
      form.append('name', 'ridethrough');
      form.append('file', new Blob(['file contents'], { type: 'text/plain' }), 'a.txt');
      const fetch = createResilientFetch({ agent: newAgent() });
      const res = await fetch(`http://${host}:${PORT}/form`, { method: 'POST', body: form, ridethrough: { idempotent: true } });
      expect(res.status).toBe(200);
      await res.text();
      expect(bad.count('POST')).toBe(1);
      expect(good.count('POST')).toBe(1);
      const type = good.requests[0]!.headers['content-type'];
      expect(type).toMatch(/^multipart\/form-data; boundary=/);
      expect(bad.requests[0]!.headers['content-type']).toBe(type);
      expect(bad.requests[0]!.body.toString()).toBe(good.requests[0]!.body);
      const parsed = await new Response(good.requests[0]!.body, { headers: { 'content-type': type! } }).formData();
      expect(parsed.get('name')).toBe('ridethrough');
      const file = parsed.get('file') as unknown as Blob & { name: string };
      expect(file.name).toBe('a.txt');
      expect(await file.text()).toBe('file contents');
    });
  }

  it('a ReadableStream body through resilientFetch is sent once and not re-sent after it was read', async () => {
    const host = 'fetch-stream.rt.test';
    const { bad, good } = await faultThenHealthy(host, '127.0.23.200', '127.0.23.201');
    const fetch = createResilientFetch({ agent: newAgent() });
    const body = new ReadableStream<Uint8Array>({
      start(controller) {
        controller.enqueue(new TextEncoder().encode('stream-1;'));
        controller.enqueue(new TextEncoder().encode('stream-2'));
        controller.close();
      },
    });
    const err = await rejection(fetch(`http://${host}:${PORT}/upload`, { method: 'PUT', body, duplex: 'half' }));
    expectNotRetryable(err, 'body-not-replayable');
    await sleep(200);
    expect(bad.count('PUT')).toBe(1);
    expect(bad.requests[0]!.body.toString()).toBe('stream-1;stream-2');
    expect(good.count()).toBe(0);
  });
});
