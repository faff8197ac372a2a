/**
 * Request bodies of every kind undici takes (and a few it does not), sent through undici's `Agent` and
 * through `ResilientAgent` with `request()`, undici's fetch and Node's fetch: what reaches the server
 * (method, headers, body, multipart boundaries aside) and the outcome must be the same. Bodies from
 * another copy of undici or another realm (Node's global FormData, typed arrays of a `vm` context) are
 * included; ResilientAgent sends a foreign FormData, which undici's Agent rejects (docs/compatibility.md).
 * Real parts only, on 127.0.152.x.
 */
import diagnosticsChannel from 'node:diagnostics_channel';
import { Readable } from 'node:stream';
import vm from 'node:vm';
import { FormData as UndiciFormData, type Dispatcher, fetch as undiciFetch } from 'undici';
import { describe, expect, it } from 'vitest';
import { channelNames, type RetryEvent } from '../../src/index.js';
import { both, forBuiltinFetch, make, run } from './support/compare.js';
import { get, parseBody } from './support/calls.js';
import { useCompatScope } from './support/scope.js';

const HTTP = '127.0.152.1';
const { base, server, dns, defer } = useCompatScope('127.0.152.53', '127.0.152.2');
const builtinFetch = globalThis.fetch as unknown as (input: string, init?: Record<string, unknown>) => Promise<Response>;
const realm = vm.createContext({});

/** A FormData of `FormDataClass` with a text field and a file. */
function formOf(FormDataClass: typeof globalThis.FormData | typeof UndiciFormData): FormData {
  const form = new FormDataClass() as FormData;
  form.append('field', 'value');
  form.append('file', new File(['file content'], 'a.txt', { type: 'text/plain' }));
  return form;
}

/** Body kinds, each made fresh per call (streams are one-shot). */
const requestBodies: [string, () => unknown][] = [
  ['string', () => 'a string body'],
  ['empty string', () => ''],
  ['Buffer', () => Buffer.from('buffer body')],
  ['Uint8Array', () => new TextEncoder().encode('bytes body')],
  ['ArrayBuffer', () => new TextEncoder().encode('array buffer body').buffer],
  ['DataView', () => new DataView(new TextEncoder().encode('data view body').buffer)],
  ['Node Readable', () => Readable.from(['readable ', 'body'])],
  [
    'Node Readable that has already ended (undici knows its length)',
    () => {
      const r = new Readable({ read() {} });
      r.push('ended ');
      r.push('readable');
      r.push(null);
      return r;
    },
  ],
  [
    'async generator',
    () =>
      (async function* () {
        yield 'async ';
        yield Buffer.from('generator');
      })(),
  ],
  ['sync iterable (array of chunks)', () => ['array ', 'of ', 'chunks']],
  ['Blob', () => new Blob(['blob body'], { type: 'text/x-blob' })],
  ['File', () => new File(['file body'], 'f.txt', { type: 'text/x-file' })],
  ['undici FormData', () => formOf(UndiciFormData)],
  [
    'web ReadableStream',
    () =>
      new ReadableStream({
        start(c) {
          c.enqueue(new TextEncoder().encode('web stream body'));
          c.close();
        },
      }),
  ],
  ['Uint8Array of another realm', () => vm.runInContext('new Uint8Array([114, 101, 97, 108, 109])', realm)],
  ['ArrayBuffer of another realm', () => vm.runInContext('new Uint8Array([114, 101, 97, 108, 109]).buffer', realm)],
  ['array of another realm', () => vm.runInContext('["other ", "realm"]', realm)],
  ['URLSearchParams (not a body undici takes)', () => new URLSearchParams({ a: '1' })],
  ['number (not a body undici takes)', () => 42],
  ['null', () => null],
];

/** POST /echo through `request()`; what the server saw, or the error. */
function post(origin: string, body: () => unknown): (d: Dispatcher) => Promise<unknown> {
  return async (d) => (await get(d, `${origin}/echo`, { method: 'POST', body: body() as string })).body;
}

describe('request() bodies', () => {
  for (const [name, body] of requestBodies) {
    it(name, async () => {
      const s = await server({ address: HTTP, protocol: 'http' });
      const r = await both({ ...base(), maxAttempts: 1 }, post(s.origin, body));
      expect(r.ridethrough).toEqual(r.undici);
    });
  }

  it("Node's global FormData: ResilientAgent sends it as undici's Agent sends an undici FormData (undici's Agent rejects it)", async () => {
    const s = await server({ address: HTTP, protocol: 'http' });
    const rejected = await run(
      'undici',
      base(),
      post(s.origin, () => formOf(globalThis.FormData)),
    );
    expect(rejected).toMatchObject({
      ok: false,
      error: { class: 'InvalidArgumentError', message: expect.stringContaining('FormData created by this undici package instance') },
    });
    const reference = await run(
      'undici',
      base(),
      post(s.origin, () => formOf(UndiciFormData)),
    );
    const sent = await run(
      'ridethrough',
      base(),
      post(s.origin, () => formOf(globalThis.FormData)),
    );
    expect(reference).toMatchObject({ ok: true, value: { body: expect.stringContaining('file content') } });
    expect(sent).toEqual(reference);
  });
});

/** A fetch body through undici's fetch: what the server saw. */
async function viaUndiciFetch(d: Dispatcher, origin: string, body: unknown): Promise<unknown> {
  const res = await undiciFetch(`${origin}/echo`, { method: 'POST', body: body as string, dispatcher: d, duplex: 'half' } as Parameters<typeof undiciFetch>[1]);
  return { status: res.status, body: parseBody(await res.text()) };
}

const fetchBodies: [string, () => unknown][] = [
  ['string', () => 'fetched string'],
  ['ArrayBuffer', () => new TextEncoder().encode('fetched bytes').buffer],
  ['Blob', () => new Blob(['fetched blob'], { type: 'text/x-blob' })],
  ['URLSearchParams', () => new URLSearchParams({ a: '1', b: 'two' })],
  ['undici FormData', () => formOf(UndiciFormData)],
  ["Node's FormData", () => formOf(globalThis.FormData)],
  [
    'web ReadableStream',
    () =>
      new ReadableStream({
        start(c) {
          c.enqueue(new TextEncoder().encode('fetched stream'));
          c.close();
        },
      }),
  ],
];

describe('undici fetch bodies', () => {
  for (const [name, body] of fetchBodies) {
    it(name, async () => {
      const s = await server({ address: HTTP, protocol: 'http' });
      const r = await both({ ...base(), maxAttempts: 1 }, (d) => viaUndiciFetch(d, s.origin, body()));
      expect(r.ridethrough).toEqual(r.undici);
    });
  }
});

describe("Node's fetch bodies", () => {
  for (const [name, body] of fetchBodies) {
    it(name, async () => {
      const s = await server({ address: HTTP, protocol: 'http' });
      const r = await both({ ...base(), maxAttempts: 1 }, async (d, kind) => {
        const res = await builtinFetch(`${s.origin}/echo`, { method: 'POST', body: body(), duplex: 'half', dispatcher: forBuiltinFetch(kind, d) });
        return { status: res.status, body: parseBody(await res.text()) };
      });
      expect(r.ridethrough).toEqual(r.undici);
    });
  }
});

describe('ResilientAgent only: one-shot bodies still ride through a refused endpoint', () => {
  for (const [name, body] of [
    ['a Node Readable (handed to undici as it is)', () => Readable.from(['never ', 'read'])],
    ["Node's global FormData (sent as an undici FormData)", () => formOf(globalThis.FormData)],
  ] as const) {
    it(name, async () => {
      const live = await server({ address: '127.0.152.5', protocol: 'http' });
      const port = new URL(live.origin).port;
      // Only 127.0.152.6 (nothing listens there) at first.
      dns.setRecords('oneshot.compat.test', { a: ['127.0.152.6'] });
      const agent = make('ridethrough', { ...base(), dns: { ...base().dns, reResolveInterval: 0 }, backoff: { initialDelay: 5, maxDelay: 20 } });
      defer(() => agent.destroy());
      // The first refusal "moves the pod": DNS lists the live address from then on.
      const refusals: string[] = [];
      const onRetry = (m: unknown): void => {
        const e = m as RetryEvent;
        if (e.reason !== 'ECONNREFUSED') return;
        refusals.push(String(e.address));
        dns.setRecords('oneshot.compat.test', { a: ['127.0.152.6', '127.0.152.5'] });
      };
      diagnosticsChannel.subscribe(channelNames.retry, onRetry);
      defer(() => diagnosticsChannel.unsubscribe(channelNames.retry, onRetry));
      const seen = await get(agent, `http://oneshot.compat.test:${port}/echo`, { method: 'POST', body: body() as unknown as string });
      expect(seen.status).toBe(200);
      expect(JSON.stringify(seen.body)).toMatch(/never read|file content/);
      expect(live.log.requests).toHaveLength(1);
      expect(refusals).toContain('127.0.152.6');
    });
  }
});
