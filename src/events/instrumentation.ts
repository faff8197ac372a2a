import { type ChannelEvents, type HedgeEvent, publish, type RetryEvent, type WaitEvent } from './channels.js';

/** What an instrumentation learns of an HTTP request as ridethrough starts it. */
export interface RequestStartInfo {
  /** HTTP method, upper case. */
  readonly method: string;
  /** `http:` or `https:`. */
  readonly protocol: string;
  /** The host name the caller asked for (not a pod IP). */
  readonly hostname: string;
  /** The port (the scheme's default filled in). */
  readonly port: number;
  /** `protocol//host:port`. */
  readonly origin: string;
  /** The request path with its query string, as dispatched. */
  readonly path: string;
}

/** One attempt of a request, as it is handed to undici. */
export interface AttemptStartInfo {
  /** The attempt (1-based); attempts after the first are resends. */
  readonly attempt: number;
  /** The endpoint IP address the attempt goes to. */
  readonly address: string;
  /** True when sent while another attempt of the request is still on its way. */
  readonly hedge: boolean;
}

/** How one attempt ended. */
export interface AttemptEndInfo {
  /** The attempt (1-based). */
  readonly attempt: number;
  /** The endpoint IP address. */
  readonly address: string;
  /**
   * `answered`: its response went to the caller; `status`: a retryable status, retried or waited on;
   * `error`: it failed; `abandoned`: ridethrough cancelled it (another attempt answered, the request ended).
   */
  readonly outcome: 'answered' | 'status' | 'error' | 'abandoned';
  /** The response status (`answered`, `status`). */
  readonly status: number | undefined;
  /** The error (`error`). */
  readonly error: Error | undefined;
}

/** A request-scoped event, with the same payload as its diagnostics channel. */
export type RequestNote =
  | { readonly kind: 'retry'; readonly event: RetryEvent }
  | { readonly kind: 'hedge'; readonly event: HedgeEvent }
  | { readonly kind: 'wait'; readonly event: WaitEvent };

/**
 * What an instrumentation (such as `ridethrough/otel`) is told of HTTP requests and TCP connects:
 * `start` is called as each request starts, `connect` as each `resilientConnect` call starts, and the
 * trace each returns hears the rest of that request or connect. Nothing is called while no hooks are
 * set; a request or connect started while they were keeps its trace to its end.
 */
export interface RequestHooks {
  /** The request starts (before DNS, the breaker, or any attempt). */
  start(info: RequestStartInfo): RequestTrace;
  /** A `resilientConnect` call starts (before DNS or any attempt); undefined: it goes untraced. */
  connect?(info: ConnectStartInfo): ConnectTrace | undefined;
}

/** One request's trace, returned by {@link RequestHooks.start}. */
export interface RequestTrace {
  /** An attempt is dispatched: `send` hands it to undici and must be run synchronously, once. */
  attempt(info: AttemptStartInfo, send: () => void): void;
  /** An attempt ended. */
  attemptEnd(info: AttemptEndInfo): void;
  /** A retry, hedge or wait of this request (published on its channel too). */
  note(note: RequestNote): void;
  /**
   * The request ended: the response was read to its end or failed (`error`), ridethrough gave up, or the
   * caller aborted. `attempts` counts the attempts made, DNS failures included.
   */
  end(error: Error | undefined, attempts: number): void;
}

/** What an instrumentation learns of a TCP connect (`resilientConnect`) as it starts. */
export interface ConnectStartInfo {
  /** The host name the caller asked for (not a pod IP; an IP when the caller gave one). */
  readonly hostname: string;
  /** The port the caller asked for. */
  readonly port: number;
  /** The connect's endpoint-state key, `tcp://host:port` (the `origin` of its channel events). */
  readonly origin: string;
  /** Whether the connection is TLS. */
  readonly tls: boolean;
}

/** One connect attempt, as it starts to connect to an address. */
export interface ConnectAttemptInfo {
  /** The attempt (1-based; DNS failures count as attempts, as in `RidethroughError.attempts`). */
  readonly attempt: number;
  /** The endpoint IP address. */
  readonly address: string;
  /** The port connected to (a discovered endpoint's own, else the caller's). */
  readonly port: number;
}

/** How a connect ended. */
export interface ConnectEndInfo {
  /** The error the caller gets; undefined when connected, or when the caller aborted. */
  readonly error: Error | undefined;
  /** True when the caller's signal aborted it. */
  readonly aborted: boolean;
  /** Attempts made, DNS failures included. */
  readonly attempts: number;
  /** The address of the last attempt (the connected one on success), if one was picked. */
  readonly address: string | undefined;
  /** The port of the last attempt. */
  readonly port: number | undefined;
}

/** A connect-scoped event, with the same payload as its diagnostics channel. */
export type ConnectNote = Extract<RequestNote, { readonly kind: 'retry' | 'wait' }>;

/** One `resilientConnect` call's trace, returned by {@link RequestHooks.connect}. */
export interface ConnectTrace {
  /** An attempt connects: `connect` starts it and must be run synchronously, once; what it returns is returned. */
  attempt<T>(info: ConnectAttemptInfo, connect: () => T): T;
  /** A retry or wait of this connect (published on its channel too). */
  note(note: ConnectNote): void;
  /** The connect ended: connected, given up, failed for good, or aborted by the caller. */
  end(info: ConnectEndInfo): void;
}

/** The hooks set now, read by the request flow and each TCP connect: one `undefined` check per request or connect when none are. @internal */
export let requestHooks: RequestHooks | undefined;

/** Every loaded copy of ridethrough (its ESM and CJS builds, each entry point) shares one registry. */
interface HookRegistry {
  current: RequestHooks | undefined;
  readonly copies: ((hooks: RequestHooks | undefined) => void)[];
}

const registryKey = Symbol.for('ridethrough.requestHooks');
const registry: HookRegistry = ((globalThis as Record<symbol, HookRegistry | undefined>)[registryKey] ??= { current: undefined, copies: [] });
// This copy follows the registry, so hooks set through any entry point reach the flows of every copy.
registry.copies.push((hooks) => {
  requestHooks = hooks;
});
requestHooks = registry.current;

/**
 * Sets the request hooks of every loaded copy of ridethrough (one set at a time). Returns a function
 * that removes them again if they are still the ones set.
 * @throws Error when other hooks are set already
 */
export function setRequestHooks(hooks: RequestHooks): () => void {
  if (registry.current !== undefined) throw new Error('ridethrough: request hooks are set already (instrumentRidethrough called twice?); disable the first');
  const set = hooks;
  registry.current = set;
  for (const copy of registry.copies) copy(set);
  return () => {
    if (registry.current !== set) return;
    registry.current = undefined;
    for (const copy of registry.copies) copy(undefined);
  };
}

/**
 * Publishes a retry, hedge or wait on its channel and tells the trace of the request or connect, when one
 * listens: the event is built once for both. @internal
 */
export function publishNote<K extends RequestNote['kind']>(
  trace: { note(note: Extract<RequestNote, { readonly kind: K }>): void } | undefined,
  kind: K,
  build: () => ChannelEvents[K],
): void {
  if (trace === undefined) {
    publish(kind, build);
    return;
  }
  const event = build();
  publish(kind, () => event);
  trace.note({ kind, event } as Extract<RequestNote, { readonly kind: K }>);
}
