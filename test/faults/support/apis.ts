/**
 * The four ways to send a request through ridethrough, behind one call, each reduced to what its
 * caller observes: a response (status, body text, or the error reading the body) or an error, and how
 * long it took. Every client is built from the same {@link ResilienceOptions}.
 */
import { Readable } from 'node:stream';
import { Agent, type Dispatcher, request } from 'undici';
import { type ResilienceOptions, ResilientAgent, RidethroughError, createResilientFetch, resilience } from '../../../src/index.js';

/** The four APIs of the matrix. */
export const apis = ['resilientFetch', 'request', 'node-fetch', 'interceptor'] as const;
export type Api = (typeof apis)[number];

/** A request body: bytes the caller can send again (string), or a one-shot stream of the same bytes. */
export interface Body {
  readonly kind: 'replayable' | 'stream';
  readonly text: string;
}

/** One request to send. */
export interface Send {
  readonly url: string;
  readonly method: string;
  readonly headers?: Record<string, string>;
  readonly body?: Body;
}

/** What the caller observed. */
export type Seen =
  | { readonly kind: 'response'; readonly status: number; readonly text: string | undefined; readonly bodyError: unknown; readonly ms: number }
  | { readonly kind: 'error'; readonly error: unknown; readonly ms: number };

/** A client of one API. */
export interface Client {
  readonly api: Api;
  send(req: Send): Promise<Seen>;
  /** Destroys the dispatcher (connections to silent servers included). */
  close(): Promise<void>;
}

/** A safety net: no call of a test may hang past this, whatever the options say. */
const safetyMs = 10_000;

/** Chunks of `text`, so a stream body arrives in several writes. */
function chunks(text: string): string[] {
  const size = Math.max(1, Math.ceil(text.length / 4));
  const out: string[] = [];
  for (let i = 0; i < text.length; i += size) out.push(text.slice(i, i + size));
  return out;
}

function nodeStream(body: Body): string | Readable {
  return body.kind === 'replayable' ? body.text : Readable.from(chunks(body.text));
}

function webStream(body: Body): string | ReadableStream<Uint8Array> {
  if (body.kind === 'replayable') return body.text;
  const parts = chunks(body.text).map((c) => new TextEncoder().encode(c));
  return new ReadableStream<Uint8Array>({
    pull(controller) {
      const next = parts.shift();
      if (next === undefined) controller.close();
      else controller.enqueue(next);
    },
  });
}

async function timed(fn: () => Promise<{ status: number; read: () => Promise<string> }>): Promise<Seen> {
  const t0 = performance.now();
  let res: { status: number; read: () => Promise<string> };
  try {
    res = await fn();
  } catch (error) {
    return { kind: 'error', error, ms: performance.now() - t0 };
  }
  try {
    const text = await res.read();
    return { kind: 'response', status: res.status, text, bodyError: undefined, ms: performance.now() - t0 };
  } catch (bodyError) {
    return { kind: 'response', status: res.status, text: undefined, bodyError, ms: performance.now() - t0 };
  }
}

/** A client that sends with undici's `request()` through `dispatcher`. */
function requestClient(api: Api, dispatcher: Dispatcher, close: () => Promise<void>): Client {
  return {
    api,
    send: (req) =>
      timed(async () => {
        const res = await request(req.url, {
          method: req.method as 'GET',
          headers: req.headers,
          body: req.body && nodeStream(req.body),
          dispatcher,
          signal: AbortSignal.timeout(safetyMs),
        });
        return { status: res.statusCode, read: () => res.body.text() };
      }),
    close,
  };
}

/**
 * A client of `api`. The undici `Agent` under the interceptor gets `connectTimeout` as its
 * `connect.timeout` (the interceptor cannot set it, see its docs).
 */
export function makeClient(api: Api, options: ResilienceOptions): Client {
  if (api === 'interceptor') {
    const dispatcher = new Agent({ connect: { timeout: options.connectTimeout ?? 1_000 } }).compose(resilience(options));
    return requestClient(api, dispatcher, () => dispatcher.destroy());
  }
  const agent = new ResilientAgent(options);
  const close = (): Promise<void> => (agent.destroyed ? Promise.resolve() : agent.destroy());
  switch (api) {
    case 'request':
      return requestClient(api, agent, close);
    case 'resilientFetch': {
      const fetch = createResilientFetch({ agent });
      return {
        api,
        send: (req) =>
          timed(async () => {
            const body = req.body && webStream(req.body);
            const res = await fetch(req.url, {
              method: req.method,
              headers: req.headers,
              body,
              signal: AbortSignal.timeout(safetyMs),
              ...(typeof body === 'object' ? { duplex: 'half' } : {}),
            } as RequestInit);
            return { status: res.status, read: () => res.text() };
          }),
        close,
      };
    }
    case 'node-fetch':
      return {
        api,
        send: (req) =>
          timed(async () => {
            const body = req.body && webStream(req.body);
            // @types/node types `dispatcher` with the undici bundled in Node: hence the cast (README).
            const init = {
              method: req.method,
              headers: req.headers,
              body,
              dispatcher: agent,
              signal: AbortSignal.timeout(safetyMs),
              ...(typeof body === 'object' ? { duplex: 'half' } : {}),
            };
            const res = await globalThis.fetch(req.url, init as unknown as RequestInit);
            return { status: res.status, read: () => res.text() };
          }),
        close,
      };
  }
}

/**
 * The ridethrough give-up inside what `api`'s caller got, checked to be where docs/compatibility.md
 * says: Node's fetch wraps it as `TypeError('fetch failed')` with the give-up as `cause`; every other
 * API (resilientFetch included) rejects with the give-up itself. Anything else (an untyped error) is
 * returned as `undefined`, for the caller to fail on with {@link describeSeen}.
 */
export function giveUpOf(api: Api, error: unknown): RidethroughError | undefined {
  if (api === 'node-fetch') {
    if (!(error instanceof TypeError) || error.message !== 'fetch failed') return undefined;
    return error.cause instanceof RidethroughError ? error.cause : undefined;
  }
  return error instanceof RidethroughError ? error : undefined;
}

/** The `code`s along an error's cause chain (for body errors wrapped by fetch). */
export function codesOf(error: unknown): string[] {
  const codes: string[] = [];
  let e = error;
  for (let depth = 0; depth < 5 && e instanceof Error; depth++) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === 'string') codes.push(code);
    e = e.cause;
  }
  return codes;
}
