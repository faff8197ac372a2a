/**
 * The checks undici makes on a request's dispatch options (`DispatcherBase.dispatch`, `Agent`'s origin
 * check, the `Request` constructor, `assertRequestHandler`), in undici's order and with undici's error
 * classes and messages, so a dispatcher that validates at its entry fails an invalid request exactly as
 * undici's Agent does, before any DNS query or connection. It runs on every request: plain comparisons,
 * caches for what repeats (origins, header names and values), no allocation on the common path.
 * @internal
 * @module
 */
import { type Dispatcher, FormData as UndiciFormData, errors } from 'undici';

const { InvalidArgumentError, NotSupportedError } = errors;

/** undici's invalid-path test: a character outside `!`–`ÿ`. */
const invalidPath = /[^\u0021-\u00ff]/;
/** undici's header value test: a character that is not a field-vchar, space or tab. */
const invalidHeaderChar = /[^\t\x20-\x7e\x80-\xff]/;
/** undici's token test for long strings (short ones go through {@link tokenChars}). */
const tokenRegExp = /^[\^_`a-zA-Z\-0-9!#$%&'*+.|~]+$/;
/** RFC 9110 token characters (tchar), by char code. */
const tokenChars = new Uint8Array(128);
for (const c of "!#$%&'*+-.^_`|~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz") tokenChars[c.charCodeAt(0)] = 1;

/** undici's `isValidHTTPToken`. */
export function isToken(s: string): boolean {
  if (s.length >= 12) return tokenRegExp.test(s);
  if (s.length === 0) return false;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c > 127 || tokenChars[c] !== 1) return false;
  }
  return true;
}

/** undici's path check (no character outside `!`–`ÿ`); a short path by its characters, cheaper than a regular expression call. */
function isValidPath(path: string): boolean {
  if (path.length >= 32) return !invalidPath.test(path);
  for (let i = 0; i < path.length; i++) {
    const c = path.charCodeAt(i);
    if (c < 0x21 || c > 0xff) return false;
  }
  return true;
}

function isStream(v: unknown): boolean {
  return v !== null && typeof v === 'object' && typeof (v as { pipe?: unknown }).pipe === 'function' && typeof (v as { on?: unknown }).on === 'function';
}

function isIterable(v: object): boolean {
  return (
    typeof (v as { [Symbol.iterator]?: unknown })[Symbol.iterator] === 'function' ||
    typeof (v as { [Symbol.asyncIterator]?: unknown })[Symbol.asyncIterator] === 'function'
  );
}

/** undici's `isFormDataLike`: the FormData of any undici copy or realm. */
export function isFormDataLike(v: unknown): v is FormData {
  if (v === null || typeof v !== 'object') return false;
  const f = v as Record<string | symbol, unknown>;
  return (
    typeof f.append === 'function' &&
    typeof f.delete === 'function' &&
    typeof f.get === 'function' &&
    typeof f.getAll === 'function' &&
    typeof f.has === 'function' &&
    typeof f.set === 'function' &&
    f[Symbol.toStringTag] === 'FormData'
  );
}

/** Whether an iterable's iterator is its own or a class's, not one planted on Object.prototype (undici's `hasSafeIterator`). */
function hasSafeIterator(v: object): boolean {
  const proto = Object.getPrototypeOf(v) as object | null;
  return (
    Object.hasOwn(v, Symbol.iterator) ||
    (proto !== null && proto !== Object.prototype && typeof (v as { [Symbol.iterator]?: unknown })[Symbol.iterator] === 'function')
  );
}

/** Bits of what {@link checkHeader} has seen of the headers that may appear once (a number: no object per request). */
const seenHost = 1;
const seenContentLength = 2;

function checkHeaderValue(key: string, v: unknown): string | string[] {
  if (typeof v === 'string') {
    if (invalidHeaderChar.test(v)) throw new InvalidArgumentError(`invalid ${key} header`);
    return v;
  }
  if (v === null) return '';
  if (typeof v === 'object') throw new InvalidArgumentError(`invalid ${key} header`);
  // Coerced as undici coerces it (functions with a crafted toString included).
  const s = `${v as string}`;
  if (invalidHeaderChar.test(s)) throw new InvalidArgumentError(`invalid ${key} header`);
  return s;
}

/**
 * Header names (as given) already seen to be tokens with no rule of their own, each with the last value
 * it was seen valid with: requests repeat the same few names, and often the same values (content type,
 * authorization), so most headers cost a map lookup and a comparison instead of a lower-casing, a token
 * scan and a value scan. Bounded.
 */
const plainHeaders = new Map<string, string>();

/**
 * undici's `processHeader`, without building the header list.
 * @param seen - the bits of the once-only headers seen before this one
 * @returns the bits with this header's added
 */
function checkHeader(seen: number, key: string, val: unknown): number {
  if (typeof val === 'string') {
    const last = plainHeaders.get(key);
    if (last !== undefined) {
      if (last === val) return seen;
      if (invalidHeaderChar.test(val)) throw new InvalidArgumentError(`invalid ${key} header`);
      plainHeaders.set(key, val);
      return seen;
    }
  }
  if (val && typeof val === 'object' && !Array.isArray(val)) throw new InvalidArgumentError(`invalid ${key} header`);
  if (val === undefined) return seen;
  const name = key.toLowerCase();
  if (!isToken(name)) throw new InvalidArgumentError('invalid header key');
  let value: string | string[];
  if (Array.isArray(val)) {
    const arr: string[] = [];
    for (const item of val as unknown[]) {
      if (item !== null && typeof item === 'object') throw new InvalidArgumentError(`invalid ${key} header`);
      arr.push(checkHeaderValue(key, item) as string);
    }
    value = arr;
  } else {
    value = checkHeaderValue(key, val);
  }
  switch (name) {
    case 'host':
      if (seen & seenHost) throw new InvalidArgumentError('duplicate host header');
      if (typeof value !== 'string') throw new InvalidArgumentError('invalid host header');
      return seen | seenHost;
    case 'content-length':
      if (seen & seenContentLength) throw new InvalidArgumentError('duplicate content-length header');
      if (typeof value !== 'string' || !/^[0-9]+$/.test(value)) throw new InvalidArgumentError('invalid content-length header');
      return seen | seenContentLength;
    case 'transfer-encoding':
    case 'keep-alive':
    case 'upgrade':
      throw new InvalidArgumentError(`invalid ${name} header`);
    case 'connection': {
      if (typeof value !== 'string') throw new InvalidArgumentError('invalid connection header');
      for (const token of value.toLowerCase().split(',')) {
        if (!isToken(token.trim())) throw new InvalidArgumentError('invalid connection header');
      }
      return seen;
    }
    case 'expect':
      throw new NotSupportedError('expect header not supported');
  }
  if (typeof value === 'string' && plainHeaders.size < 1_024) plainHeaders.set(key, value);
  return seen;
}

function checkHeaders(headers: unknown): void {
  if (headers === null || headers === undefined) return;
  let seen = 0;
  if (Array.isArray(headers)) {
    if (headers.length % 2 !== 0) throw new InvalidArgumentError('headers array must be even');
    for (let i = 0; i < headers.length; i += 2) seen = checkHeader(seen, headers[i] as string, headers[i + 1]);
    return;
  }
  if (typeof headers !== 'object') throw new InvalidArgumentError('headers must be an object or an array');
  // A plain object has no iterator anywhere on its chain: one property load rules the iterable forms out.
  if ((headers as { [Symbol.iterator]?: unknown })[Symbol.iterator] !== undefined && hasSafeIterator(headers)) {
    for (const header of headers as Iterable<unknown>) {
      if (!Array.isArray(header) || header.length !== 2) throw new InvalidArgumentError('headers must be in key-value pair format');
      seen = checkHeader(seen, header[0] as string, header[1]);
    }
    return;
  }
  const keys = Object.keys(headers);
  for (let i = 0; i < keys.length; i++) seen = checkHeader(seen, keys[i]!, (headers as Record<string, unknown>)[keys[i]!]);
}

/** undici's `assertRequestHandler`. */
function checkHandler(handler: Dispatcher.DispatchHandler, method: string, upgrade: unknown): void {
  if (typeof handler.onRequestStart !== 'function') throw new InvalidArgumentError('invalid onRequestStart method');
  if (typeof handler.onResponseError !== 'function') throw new InvalidArgumentError('invalid onResponseError method');
  if (typeof handler.onBodySent !== 'function' && handler.onBodySent !== undefined) throw new InvalidArgumentError('invalid onBodySent method');
  if (typeof handler.onRequestSent !== 'function' && handler.onRequestSent !== undefined) throw new InvalidArgumentError('invalid onRequestSent method');
  if (upgrade || method === 'CONNECT') {
    if (typeof handler.onRequestUpgrade !== 'function') throw new InvalidArgumentError('invalid onRequestUpgrade method');
  } else {
    if (typeof handler.onResponseStart !== 'function') throw new InvalidArgumentError('invalid onResponseStart method');
    if (typeof handler.onResponseData !== 'function') throw new InvalidArgumentError('invalid onResponseData method');
    if (typeof handler.onResponseEnd !== 'function') throw new InvalidArgumentError('invalid onResponseEnd method');
  }
}

/**
 * An undici FormData with the entries of a FormData of another undici copy or realm (Node's global
 * FormData, a second undici install), which undici's `Request` would reject; the files are Node's own
 * `File`s in every copy, so the entries carry over as they are.
 */
export function toUndiciFormData(form: FormData): UndiciFormData {
  const copy = new UndiciFormData();
  for (const [name, value] of form as unknown as Iterable<[string, string | File]>) copy.append(name, value);
  return copy;
}

/**
 * undici's first checks of a dispatch (`DispatcherBase.dispatch`): an options object, and no stray
 * `dispatcher` in it. The dispatcher's own state (closed, destroyed) is checked next, by the caller.
 * @internal
 */
export function checkDispatchEnvelope(opts: unknown): asserts opts is Dispatcher.DispatchOptions {
  if (!opts || typeof opts !== 'object') throw new InvalidArgumentError('opts must be an object.');
  if ((opts as { dispatcher?: unknown }).dispatcher) {
    throw new InvalidArgumentError(
      'opts.dispatcher is not supported by instance methods. Pass opts.dispatcher to the top-level undici functions or call the dispatcher instance method directly.',
    );
  }
}

/** Origins already seen to be valid: undici parses an origin once, when it makes its pool; so does this, through the cache. */
const validOrigins = new Set<string>();
let lastValidOrigin: string | undefined;

/** undici's `parseOrigin`: an http(s) URL with nothing after the authority. */
function checkOriginUrl(url: URL): void {
  if (!/^https?:$/.test(url.protocol)) throw new InvalidArgumentError('Invalid URL protocol: the URL must start with `http:` or `https:`.');
  if (url.pathname !== '/' || url.search || url.hash) throw new InvalidArgumentError('invalid url');
}

/** undici Agent's origin check, and the one its new pool makes of the origin. @internal */
export function checkDispatchOrigin(origin: unknown): void {
  if (typeof origin === 'string') {
    if (origin === lastValidOrigin) return;
    if (!validOrigins.has(origin)) {
      if (origin.length === 0) throw new InvalidArgumentError('opts.origin must be a non-empty string or URL.');
      // A string that is no URL fails with the URL parser's own TypeError, as in undici.
      checkOriginUrl(new URL(origin));
      if (validOrigins.size >= 1_024) validOrigins.clear();
      validOrigins.add(origin);
    }
    lastValidOrigin = origin;
    return;
  }
  if (!(origin instanceof URL)) throw new InvalidArgumentError('opts.origin must be a non-empty string or URL.');
  checkOriginUrl(origin);
}

/**
 * Validates dispatch options as undici's `Request` does, in undici's order (path, method, upgrade,
 * timeouts, flags, body, query, headers) and the handler (skipped when `handler` is undefined: a handler
 * of undici 6/7's shape, adapted by the caller). Throws undici's error.
 *
 * @returns `opts`, or a copy whose FormData body of another undici copy or realm is now an undici one
 * @internal
 */
export function checkDispatchOptions(opts: Dispatcher.DispatchOptions, handler: Dispatcher.DispatchHandler | undefined): Dispatcher.DispatchOptions {
  const o = opts as Dispatcher.DispatchOptions & Record<string, unknown>;
  const path = o.path as unknown;
  const method = o.method as unknown;
  if (typeof path !== 'string') throw new InvalidArgumentError('path must be a string');
  if (path.charCodeAt(0) !== 47 && !(path.startsWith('http://') || path.startsWith('https://')) && method !== 'CONNECT') {
    throw new InvalidArgumentError('path must be an absolute URL or start with a slash');
  }
  if (!isValidPath(path)) throw new InvalidArgumentError('invalid request path');
  if (typeof method !== 'string') throw new InvalidArgumentError('method must be a string');
  if (!isToken(method)) throw new InvalidArgumentError('invalid request method');
  const upgrade = o.upgrade;
  if (upgrade) {
    if (typeof upgrade !== 'string') throw new InvalidArgumentError('upgrade must be a string');
    if (invalidHeaderChar.test(upgrade)) throw new InvalidArgumentError('invalid upgrade header');
  }
  const headersTimeout = o.headersTimeout;
  if (headersTimeout != null && (!Number.isFinite(headersTimeout) || headersTimeout < 0)) throw new InvalidArgumentError('invalid headersTimeout');
  const bodyTimeout = o.bodyTimeout;
  if (bodyTimeout != null && (!Number.isFinite(bodyTimeout) || bodyTimeout < 0)) throw new InvalidArgumentError('invalid bodyTimeout');
  if (o.reset != null && typeof o.reset !== 'boolean') throw new InvalidArgumentError('invalid reset');
  if (o.expectContinue != null && typeof o.expectContinue !== 'boolean') throw new InvalidArgumentError('invalid expectContinue');
  if (o.throwOnError != null) throw new InvalidArgumentError('invalid throwOnError');
  if (o.maxRedirections != null && o.maxRedirections !== 0) throw new InvalidArgumentError('maxRedirections is not supported, use the redirect interceptor');
  const tos = o.typeOfService;
  if (tos != null && (!Number.isInteger(tos) || (tos as number) < 0 || (tos as number) > 255))
    throw new InvalidArgumentError('typeOfService must be an integer between 0 and 255');
  let result = opts;
  const body = o.body as unknown;
  if (
    body != null &&
    typeof body !== 'string' &&
    !isStream(body) &&
    !(body instanceof Uint8Array) &&
    !ArrayBuffer.isView(body) &&
    !(body instanceof ArrayBuffer)
  ) {
    if (isFormDataLike(body)) {
      if (!(body instanceof UndiciFormData)) result = { ...opts, body: toUndiciFormData(body) as unknown as Dispatcher.DispatchOptions['body'] };
    } else if (typeof body !== 'object' || (!isIterable(body) && !(body instanceof Blob))) {
      throw new InvalidArgumentError('body must be a string, a Buffer, a Readable stream, an iterable, or an async iterable');
    }
  }
  if (o.query && (path.includes('?') || path.includes('#'))) throw new Error('Query params cannot be passed when url already contains "?" or "#".');
  checkHeaders(o.headers);
  if (handler !== undefined) checkHandler(handler, method, upgrade);
  return result;
}
