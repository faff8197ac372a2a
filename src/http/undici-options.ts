import type { LookupAddress, LookupAllOptions } from 'node:dns';
import type { LookupFunction } from 'node:net';
import type { ConnectionOptions } from 'node:tls';
import { Agent, type Dispatcher, buildConnector, Client, errors, Pool } from 'undici';
import { type ResilienceOptions, resolveOptions } from '../core/options.js';

/**
 * undici's own Agent/Pool/Client options as `ResilientAgent` takes them: every key of undici's
 * `Agent.Options` except those ridethrough defines itself under the same name (`connectTimeout`,
 * `bodyTimeout`, `keepAliveTimeout`, `tls`), which keep ridethrough's documented meaning and range.
 */
export type UndiciAgentOptions = Omit<Agent.Options, keyof ResilienceOptions>;

/**
 * The top-level keys undici's Agent, Pool and Client constructors read (the removed ones included:
 * undici rejects them by name), and `interceptors`, an undici 6 key undici 8 takes and ignores.
 */
const undiciKeys = new Set([
  'factory',
  'maxOrigins',
  'connect',
  'connections',
  'clientTtl',
  'maxCachedSessions',
  'socketPath',
  'autoSelectFamily',
  'autoSelectFamilyAttemptTimeout',
  'allowH2',
  'useH2c',
  'maxHeaderSize',
  'headersTimeout',
  'socketTimeout',
  'requestTimeout',
  'idleTimeout',
  'keepAlive',
  'maxKeepAliveTimeout',
  'keepAliveMaxTimeout',
  'keepAliveTimeoutThreshold',
  'pipelining',
  'strictContentLength',
  'maxRequestsPerClient',
  'localAddress',
  'maxResponseSize',
  'maxConcurrentStreams',
  'initialWindowSize',
  'connectionWindowSize',
  'pingInterval',
  'useMilo',
  'webSocket',
  'h2Options',
  'eventSource',
  'interceptors',
]);

/** Keys both undici and ridethrough define: ridethrough's ranges first, then undici's checks (the pools get them too). */
const sharedKeys = new Set(['connectTimeout', 'bodyTimeout', 'keepAliveTimeout', 'tls']);

/** Connector options that are not TLS settings (what is left of a `connect` object is ridethrough's `tls`). */
const connectorOnlyKeys = new Set([
  'timeout',
  'lookup',
  'socketPath',
  'maxCachedSessions',
  'allowH2',
  'preferH2',
  'useH2c',
  'session',
  'autoSelectFamily',
  'autoSelectFamilyAttemptTimeout',
  'keepAlive',
  'keepAliveInitialDelay',
  'typeOfService',
  'port',
  'host',
  'path',
]);

/** A dispatcher factory, as undici's Agent takes it. */
export type DispatcherFactory = (origin: string | URL, opts: object) => Dispatcher;

/** The undici side of a ResilientAgent's options, once validated. @internal */
export interface UndiciSettings {
  /** What every endpoint pool gets (undici's Agent hands its pools the same, cloned through JSON). */
  readonly poolOptions: Readonly<Record<string, unknown>>;
  /** The caller's `connect`: connector options or a connector function. */
  readonly connect: Readonly<buildConnector.BuildOptions> | buildConnector.connector | undefined;
  /** Makes each endpoint's dispatcher (undici's default: a Client for `connections: 1`, else a Pool). */
  readonly factory: DispatcherFactory;
  /** Most origins with pools at once. */
  readonly maxOrigins: number;
  /** Whether the pools may negotiate HTTP/2 over TLS (ALPN h2; undici 8's default). */
  readonly allowH2: boolean;
  /** Whether the pools speak HTTP/2 without TLS (h2c). */
  readonly h2c: boolean;
  /** An undici Agent built from the same options and never dispatched through: its `webSocketOptions` and `eventSourceOptions` are the agent's. */
  readonly reference: Agent;
}

function defaultFactory(origin: string | URL, opts: object): Dispatcher {
  return (opts as { connections?: unknown }).connections === 1 ? new Client(origin, opts) : new Pool(origin, opts);
}

/**
 * Splits a ResilientAgent's options into ridethrough's and undici's and validates both: ridethrough's
 * first (its documented TypeError/RangeError, which also covers the keys both define), then undici's as
 * undici does (same error classes and messages: undici's own Agent, Pool and Client constructors check
 * them once, here, instead of when the first pool is made). Then the overlap rule: an undici option that
 * overlaps one of ridethrough's sets it, unless ridethrough's own is given too (docs/compatibility.md).
 * @internal
 */
export function splitAgentOptions(options: Readonly<Record<string, unknown>>): { resilience: ResilienceOptions; undici: UndiciSettings } {
  const resilience: Record<string, unknown> = {};
  const undici: Record<string, unknown> = {};
  if (options !== null && typeof options === 'object' && !Array.isArray(options)) {
    for (const key of Object.keys(options)) {
      const value = options[key];
      if (undiciKeys.has(key)) undici[key] = value;
      else {
        resilience[key] = value;
        if (sharedKeys.has(key)) undici[key] = value;
      }
    }
  }
  // Throws ridethrough's error for an invalid ridethrough option, a non-object `options` included.
  resolveOptions(
    options === undefined || (options !== null && typeof options === 'object' && !Array.isArray(options))
      ? (resilience as ResilienceOptions)
      : (options as ResilienceOptions),
  );
  const { factory, maxOrigins, connect, tls, ...rest } = undici;
  // undici's own checks, in undici's order: the Agent's, then its pools' and their clients'.
  const reference = new Agent(undici as Agent.Options);
  // undici's Agent clones what it hands its pools through JSON: functions and undefined drop out, NaN is null.
  const cloned = JSON.parse(JSON.stringify(rest)) as Record<string, unknown>;
  if (factory === undefined) validateAsUndiciPools({ ...cloned, maxOrigins, connect, tls });
  applyOverlaps(resilience, cloned, connect);
  const { connectTimeout: _ct, bodyTimeout: _bt, keepAliveTimeout: _kt, headersTimeout: _ht, connections: _c, ...poolOptions } = cloned;
  const h2 = poolOptions.h2Options as { useH2c?: unknown } | undefined;
  return {
    resilience: resilience as ResilienceOptions,
    undici: {
      poolOptions,
      connect: connect as UndiciSettings['connect'],
      factory: (factory as DispatcherFactory | undefined) ?? defaultFactory,
      maxOrigins: (maxOrigins as number | undefined) ?? Infinity,
      allowH2: poolOptions.allowH2 !== false,
      h2c: poolOptions.allowH2 !== false && (poolOptions.useH2c === true || h2?.useH2c === true),
      reference,
    },
  };
}

/**
 * Builds what undici's default factory builds for an origin, once, so its constructors check the
 * options: a Client for `connections: 1`, else a Pool, and the Client that Pool would make (which sees
 * what the Pool hands it: the connector built, the Pool's own keys taken out).
 */
function validateAsUndiciPools(options: Record<string, unknown>): void {
  const url = 'http://ridethrough.invalid';
  if (options.connections === 1) {
    void new Client(url, options as Client.Options).destroy().catch(noop);
    return;
  }
  void new Pool(url, options as Pool.Options).destroy().catch(noop);
  const {
    connections: _c,
    factory: _f,
    connect: _co,
    connectTimeout: _ct,
    tls: _t,
    maxCachedSessions: _m,
    socketPath,
    autoSelectFamily: _a,
    autoSelectFamilyAttemptTimeout: _at,
    allowH2,
    useH2c,
    clientTtl,
    ...rest
  } = options;
  void new Client(url, { ...rest, connect: noop, allowH2, useH2c, clientTtl, socketPath } as unknown as Client.Options).destroy().catch(noop);
}

function noop(): void {}

/**
 * The overlap rule, one option at a time: the undici option, when given, sets ridethrough's unless
 * ridethrough's is given too; undici's values keep undici's meaning (0 = off, as far as ridethrough's
 * range allows: the attempt timeout and the deadline still bound a request).
 */
function applyOverlaps(resilience: Record<string, unknown>, cloned: Record<string, unknown>, connect: unknown): void {
  const connectObject = connect !== null && typeof connect === 'object' ? (connect as Record<string, unknown>) : undefined;
  const timeout = connectObject?.timeout;
  if (resilience.connectTimeout === undefined && typeof timeout === 'number' && Number.isFinite(timeout) && timeout >= 0) {
    resilience.connectTimeout = timeout === 0 ? 600_000 : Math.min(Math.max(timeout, 1), 600_000);
  }
  const headersTimeout = cloned.headersTimeout;
  if (resilience.attemptTimeout === undefined && typeof headersTimeout === 'number') {
    resilience.attemptTimeout = headersTimeout === 0 ? 3_600_000 : Math.min(headersTimeout, 3_600_000);
  }
  const clientTtl = cloned.clientTtl;
  if (resilience.maxConnectionAge === undefined && typeof clientTtl === 'number') {
    resilience.maxConnectionAge = clientTtl <= 0 ? 0 : Math.min(Math.max(clientTtl, 1_000), 86_400_000);
  }
  const connections = cloned.connections;
  if (resilience.connectionsPerEndpoint === undefined && typeof connections === 'number' && connections > 0) {
    resilience.connectionsPerEndpoint = Math.min(Math.ceil(connections), 65_535);
  }
  if (resilience.tls === undefined && connectObject) {
    const tls: Record<string, unknown> = {};
    for (const key of Object.keys(connectObject)) if (!connectorOnlyKeys.has(key)) tls[key] = connectObject[key];
    if (Object.keys(tls).length > 0) resilience.tls = tls as ConnectionOptions;
  }
}

/** A `net.connect` lookup that answers every query with one address (net asks with `all: true` when it races families). */
export function pinnedLookup(address: string, family: 4 | 6): LookupFunction {
  return (_hostname, options, callback) => {
    if ((options as LookupAllOptions).all) (callback as (err: null, addresses: LookupAddress[]) => void)(null, [{ address, family }]);
    else callback(null, address, family);
  };
}

/**
 * The `connect` option of one endpoint's pool: the caller's connector options with the TLS settings,
 * the connect timeout and a lookup pinned to the endpoint; or the caller's connector function, called
 * with the endpoint's IP as `hostname` (`host` and `servername` keep the host name, for the Host header
 * and TLS) so it connects where ridethrough decided.
 * @internal
 */
export function endpointConnect(
  given: UndiciSettings['connect'],
  tls: ConnectionOptions | undefined,
  timeout: number,
  address: string,
  family: 4 | 6,
): buildConnector.BuildOptions | buildConnector.connector {
  if (typeof given === 'function') {
    return (opts, callback) => given({ ...opts, hostname: address }, callback);
  }
  return { ...given, ...tls, timeout, lookup: pinnedLookup(address, family) } as buildConnector.BuildOptions;
}

/**
 * A connector that dials `port` instead of the origin's port: a discovered endpoint's own port (a
 * Service's targetPort), while the origin (Host header, TLS servername) stays the caller's.
 * @internal
 */
export function atPort(connect: buildConnector.connector, port: number | undefined): buildConnector.connector {
  if (port === undefined) return connect;
  const text = String(port);
  return (opts, callback) => connect({ ...opts, port: text }, callback);
}

/**
 * The connector undici's Pool would build from `connect` options and its own pool options, with a
 * connect timer of ridethrough's own: undici's is on its coarse timer wheel (a 1 s timeout fires after
 * 1–1.5 s, a 250 ms one after about 1 s), and `connectTimeout` is how fast a dead node is seen.
 * @param poolOptions - the pool options the connector would see (TLS session cache, HTTP/2, socket path, family selection)
 * @param http1 - HTTP/1.1 only
 */
export function preciseConnector(
  connect: buildConnector.BuildOptions,
  poolOptions: Readonly<Record<string, unknown>>,
  http1: boolean,
  timeoutMs: number,
): buildConnector.connector {
  const p = poolOptions;
  const build = buildConnector({
    maxCachedSessions: p.maxCachedSessions as number | undefined,
    allowH2: http1 ? false : (p.allowH2 as boolean | undefined),
    useH2c: p.useH2c as boolean | undefined,
    socketPath: p.socketPath as string | undefined,
    ...(typeof p.autoSelectFamily === 'boolean'
      ? { autoSelectFamily: p.autoSelectFamily, autoSelectFamilyAttemptTimeout: p.autoSelectFamilyAttemptTimeout as number | undefined }
      : undefined),
    ...connect,
    timeout: 0,
  } as unknown as buildConnector.BuildOptions) as unknown as (
    options: buildConnector.Options,
    callback: buildConnector.Callback,
  ) => { destroy(err: Error): void } | undefined;
  return (options, callback) => {
    let timer: NodeJS.Timeout | undefined;
    const socket = build(options, (...args) => {
      clearTimeout(timer);
      callback(...args);
    });
    if (timeoutMs > 0 && socket !== undefined) {
      // The socket's error event reaches the callback above with this error.
      timer = setTimeout(
        () =>
          socket.destroy(
            new errors.ConnectTimeoutError(`Connect Timeout Error (attempted address: ${options.hostname}:${options.port}, timeout: ${timeoutMs}ms)`),
          ),
        timeoutMs,
      );
    }
  };
}
