/**
 * Invalid dispatch options fail with undici's own error (class, code, message) through undici's
 * `Agent` and through `ResilientAgent`, before any DNS query or connection: to a live server, and to a
 * host name nobody published (where a late check would show up as a DNS error instead). Valid options
 * that change what goes on the wire (query, reset, headers in every shape undici takes) reach the server
 * alike. Real parts only, on 127.0.153.x.
 */
import { type Dispatcher, Headers as UndiciHeaders } from 'undici';
import { describe, expect, it } from 'vitest';
import { both } from './support/compare.js';
import { get } from './support/calls.js';
import { useCompatScope } from './support/scope.js';

const HTTP = '127.0.153.1';
const { base, server, dns } = useCompatScope('127.0.153.53', '127.0.153.2');

/** Dispatch options that undici rejects, each with what makes it invalid. */
const invalid: [string, Record<string, unknown>][] = [
  ['path not a string', { path: 123 }],
  ['path without a leading slash', { path: 'no-slash' }],
  ['path with a space', { path: '/a b' }],
  ['path with a tab', { path: '/a\tb' }],
  ['path with a character above ÿ', { path: '/a\u0100' }],
  ['long path with a space at its end', { path: `/${'a'.repeat(200)} ` }],
  ['method not a string', { method: 1 }],
  ['method not a token', { method: 'GE T' }],
  ['upgrade not a string', { upgrade: 1 }],
  ['upgrade with a newline', { upgrade: 'a\nb' }],
  ['headersTimeout', { headersTimeout: -1 }],
  ['bodyTimeout', { bodyTimeout: -1 }],
  ['reset', { reset: 'yes' }],
  ['expectContinue', { expectContinue: 'yes' }],
  ['throwOnError', { throwOnError: true }],
  ['maxRedirections', { maxRedirections: 2 }],
  ['typeOfService', { typeOfService: 300 }],
  ['body of an unknown kind', { body: 42 }],
  ['headers not an object', { headers: 'x' }],
  ['headers array of odd length', { headers: ['a'] }],
  ['headers iterable of non-pairs', { headers: new Set([['a']]) }],
  ['header name not a token', { headers: { 'bad key': 'v' } }],
  ['header value with a newline', { headers: { 'x-a': 'a\nb' } }],
  ['header value an object', { headers: { 'x-a': {} } }],
  ['header value an array with an object', { headers: { 'x-a': ['a', {}] } }],
  ['host header twice', { headers: ['host', 'a', 'host', 'b'] }],
  ['host header an array', { headers: { host: ['a', 'b'] } }],
  ['content-length not a number', { headers: { 'content-length': 'abc' } }],
  ['content-length twice', { headers: ['content-length', '1', 'content-length', '1'] }],
  ['transfer-encoding header', { headers: { 'transfer-encoding': 'chunked' } }],
  ['keep-alive header', { headers: { 'keep-alive': 'timeout=5' } }],
  ['upgrade header', { headers: { upgrade: 'websocket' } }],
  ['connection header not tokens', { headers: { connection: 'a b' } }],
  ['expect header', { headers: { expect: '100-continue' } }],
  ['origin not a string or URL', { origin: 123 }],
  ['origin missing', { origin: undefined }],
  ['origin not a URL', { origin: 'not a url' }],
  ['origin not http(s)', { origin: 'ftp://127.0.153.1' }],
  ['origin with a path', { origin: 'http://127.0.153.1:1/path' }],
  ['origin URL with a query', { origin: new URL('http://127.0.153.1:1/?a=1') }],
  ['dispatcher in the options', { dispatcher: {} }],
];

/** `d.request()` with the given options over a base GET of /echo on `origin`. */
function call(origin: string, options: Record<string, unknown>): (d: Dispatcher) => Promise<unknown> {
  return async (d) => {
    const res = await d.request({ origin, path: '/echo', method: 'GET', ...options } as Dispatcher.RequestOptions);
    return { status: res.statusCode, body: await res.body.text() };
  };
}

describe('an invalid dispatch option fails with undici’s error, before DNS and before connecting', () => {
  for (const [name, options] of invalid) {
    it(`${name}: to a live server`, async () => {
      const s = await server({ address: HTTP, protocol: 'http' });
      const r = await both(base(), call(s.origin, options));
      expect(r.undici.ok).toBe(false);
      expect(r.ridethrough).toEqual(r.undici);
      expect(s.log.connections).toBe(0);
    });

    it(`${name}: to a host name nobody published`, async () => {
      const queries = dns.queries.length;
      const r = await both(base(), call('http://unpublished.compat.test:8080', options));
      expect(r.undici.ok).toBe(false);
      expect(r.ridethrough).toEqual(r.undici);
      expect(dns.queries.length).toBe(queries);
    });
  }

  it('a handler that is not an object throws at once', async () => {
    const r = await both(base(), async (d) => d.dispatch({ origin: 'http://unpublished.compat.test', path: '/', method: 'GET' }, null as never));
    expect(r.undici).toMatchObject({ ok: false, error: { class: 'InvalidArgumentError', message: 'handler must be an object' } });
    expect(r.ridethrough).toEqual(r.undici);
  });

  it('a handler without onRequestStart (or any undici 7 callback) fails through onResponseError', async () => {
    const r = await both(base(), async (d) => {
      const seen: string[] = [];
      d.dispatch({ origin: 'http://unpublished.compat.test', path: '/', method: 'GET' }, {
        onResponseError: (_c: unknown, err: Error) => seen.push(err.message),
      } as never);
      await new Promise((resolve) => setTimeout(resolve, 50));
      return seen;
    });
    expect(r.undici).toEqual({ ok: true, value: ['invalid onRequestStart method'] });
    expect(r.ridethrough).toEqual(r.undici);
  });
});

describe('valid dispatch options reach the server alike', () => {
  const valid: [string, Record<string, unknown>][] = [
    ['query', { query: { a: 1, b: ['x', 'y'] } }],
    ['absolute-URL path', { path: `http://${HTTP}/echo/abs` }],
    ['path with Latin-1 characters', { path: '/echo/\u00e9\u00ff' }],
    ['long path', { path: `/echo/${'a'.repeat(200)}` }],
    ['headers as an object with arrays and numbers', { headers: { 'x-a': ['1', '2'], 'x-n': 3, 'x-null': null } }],
    ['headers as a flat array', { headers: ['x-a', '1', 'x-b', '2'] }],
    ['headers as a Map', { headers: new Map([['x-a', '1']]) }],
    ['headers as undici Headers', { headers: new UndiciHeaders({ 'x-a': '1' }) }],
    ['headers as global Headers', { headers: new Headers({ 'x-a': '1' }) }],
    ['connection: close', { headers: { connection: 'close' } }],
    ['reset: true', { reset: true }],
    ['blocking, idempotent, typeOfService, expectContinue', { blocking: false, idempotent: true, typeOfService: 0, expectContinue: false }],
    ['a custom method', { method: 'PURGE' }],
    ['maxRedirections: 0', { maxRedirections: 0 }],
  ];
  for (const [name, options] of valid) {
    it(name, async () => {
      const s = await server({ address: HTTP, protocol: 'http' });
      const r = await both(base(), call(s.origin, options));
      expect(r.undici.ok).toBe(true);
      expect(r.ridethrough).toEqual(r.undici);
    });
  }

  it('request() with an invalid option to an unresolvable host: InvalidArgumentError naming the option, not ENOTFOUND', async () => {
    const r = await both(base(), async (d) => get(d, 'http://unpublished.compat.test/', { expectContinue: 'yes' as never }));
    expect(r.undici).toMatchObject({ ok: false, error: { class: 'InvalidArgumentError', message: 'invalid expectContinue' } });
    expect(r.ridethrough).toEqual(r.undici);
  });
});
