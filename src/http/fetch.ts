import { FormData as UndiciFormData, Request as UndiciRequest, fetch as undiciFetch } from 'undici';
import { RidethroughError } from '../errors/errors.js';
import { ResilientAgent, type ResilientAgentOptions } from './agent.js';
import { ResilientView } from './view.js';
import { type RequestOverrides, validateOverrides } from '../core/options.js';

/** The standard `RequestInit` (as Node's global `fetch` takes it) plus ridethrough's per-request overrides. */
export type ResilientRequestInit = RequestInit & {
  /** Per-request overrides: deadline, attempts, attempt timeout, idempotency. */
  ridethrough?: RequestOverrides;
};

/** A `fetch` with ridethrough's resilience: the global `fetch` signature plus the `ridethrough` init key. */
export type ResilientFetch = (input: string | URL | Request, init?: ResilientRequestInit) => Promise<Response>;

type UndiciInit = NonNullable<Parameters<typeof undiciFetch>[1]>;
type UndiciInput = Parameters<typeof undiciFetch>[0];

/** Options of {@link createResilientFetch}: those of the {@link ResilientAgent} it makes (undici's `Agent` options included), or an agent of your own. */
export interface ResilientFetchOptions extends ResilientAgentOptions {
  /** Use this agent (and its DNS cache and endpoint health) instead of creating one. */
  readonly agent?: ResilientAgent;
}

/**
 * Creates a WHATWG `fetch` that rides out a moved pod. Bodies given as a string, bytes,
 * `URLSearchParams`, `Blob` or `FormData` are buffered once so every retry can send them again; a
 * `ReadableStream` body is sent once and retried only when it was never read (connect failures).
 *
 * When ridethrough gives up, the promise rejects with the ridethrough error itself
 * ({@link RidethroughError}: `code`, `attempts`, `cause`), not with fetch's `TypeError('fetch failed')`.
 * A caller's `AbortSignal` rejects with its reason, as fetch does.
 *
 * @example
 * ```ts
 * const fetch = createResilientFetch({ deadline: 15_000 });
 * const res = await fetch('http://inventory:8080/items/42', { ridethrough: { maxAttempts: 5 } });
 * ```
 */
export function createResilientFetch(options: ResilientFetchOptions = {}): ResilientFetch {
  const { agent: given, ...rest } = (options ?? {}) as ResilientFetchOptions;
  if (given !== undefined) {
    if (!(given instanceof ResilientAgent)) throw new TypeError('ridethrough: option "agent" must be a ResilientAgent');
    // The agent has its own options: others next to it would be silently ignored.
    const extra = Object.keys(rest).find((k) => (rest as Record<string, unknown>)[k] !== undefined);
    if (extra !== undefined) throw new TypeError(`ridethrough: option "${extra}" cannot be combined with "agent"; set it on the agent instead`);
  }
  const agent = given ?? new ResilientAgent(rest);
  return async function resilientFetch(input, init) {
    const { ridethrough, ...given } = init ?? {};
    validateOverrides(ridethrough);
    let requestInit: RequestInit = given;
    if (typeof input !== 'string' && !(input instanceof URL) && !(input instanceof UndiciRequest)) {
      // A Request of Node's own fetch (what ky and other clients pass): undici's fetch cannot read a
      // Request of another copy of undici, so unpack it into a URL and an init (init keys win).
      const r = input;
      input = r.url;
      requestInit = {
        method: r.method,
        headers: r.headers,
        body: r.body === null ? null : await r.arrayBuffer(),
        signal: r.signal,
        redirect: r.redirect,
        ...given,
      };
    }
    let replayBody: Uint8Array | undefined;
    let finalInit: RequestInit = requestInit;
    const body = requestInit.body;
    if (body != null && !(body instanceof ReadableStream) && !isAsyncIterable(body)) {
      // Serialise the body the way fetch would (content type and multipart boundary included), once, so
      // retries can resend it. Node's global classes and undici's are separate copies: serialise each
      // body with the Request class of its own realm, or FormData would become "[object FormData]".
      const url = typeof input === 'string' || input instanceof URL ? input : input.url;
      const req: { arrayBuffer(): Promise<ArrayBuffer>; headers: { get(name: string): string | null } } =
        body instanceof UndiciFormData
          ? new UndiciRequest(url, { method: requestInit.method ?? 'POST', body })
          : new Request(url, { method: requestInit.method ?? 'POST', body, headers: requestInit.headers });
      replayBody = new Uint8Array(await req.arrayBuffer());
      const headers = new Headers(requestInit.headers);
      const type = req.headers.get('content-type');
      if (type && !headers.has('content-type')) headers.set('content-type', type);
      finalInit = { ...requestInit, body: replayBody, headers };
    }
    const dispatcher = ridethrough || replayBody !== undefined ? new ResilientView(agent, { overrides: ridethrough, replayBody }) : agent;
    try {
      return (await undiciFetch(input as UndiciInput, { ...(finalInit as unknown as UndiciInit), dispatcher })) as unknown as Response;
    } catch (err) {
      // fetch wraps network errors as TypeError('fetch failed', { cause }); hand back ridethrough's own error.
      const cause = (err as { cause?: unknown }).cause;
      if (err instanceof TypeError && cause instanceof RidethroughError) throw cause;
      throw err;
    }
  } as ResilientFetch;
}

let defaultFetch: ResilientFetch | undefined;
let defaultAgent: ResilientAgent | undefined;

/**
 * `fetch` with ridethrough's in-cluster defaults (10 s deadline, 1 s connect timeout, 5 s DNS cache).
 * Shares one lazily created {@link ResilientAgent} per process. See {@link createResilientFetch}.
 *
 * @example
 * ```ts
 * import { resilientFetch } from 'ridethrough';
 * const res = await resilientFetch('http://inventory.shop.svc.cluster.local:8080/items/42');
 * ```
 */
export const resilientFetch: ResilientFetch = (input, init) => {
  if (!defaultFetch) {
    defaultAgent = new ResilientAgent();
    defaultFetch = createResilientFetch({ agent: defaultAgent });
  }
  return defaultFetch(input, init);
};

/** The agent behind {@link resilientFetch} (created on first use). */
export function getDefaultAgent(): ResilientAgent {
  if (!defaultAgent) {
    defaultAgent = new ResilientAgent();
    defaultFetch = createResilientFetch({ agent: defaultAgent });
  }
  return defaultAgent;
}

function isAsyncIterable(v: unknown): boolean {
  return v !== null && typeof v === 'object' && typeof (v as { [Symbol.asyncIterator]?: unknown })[Symbol.asyncIterator] === 'function';
}
