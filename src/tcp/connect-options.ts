import type { ConnectionOptions } from 'node:tls';
import type { ResilienceContext } from '../core/context.js';
import { resilienceOptions } from '../core/options.js';
import { type OptionGroup, bool, checkGroup, custom, millis } from '../utils/option-table.js';
import { checkNumber, checkObject } from '../utils/validate.js';
import type { ContextSettings } from './shared-context.js';

/** Options of {@link resilientConnect}. All durations in milliseconds. */
export interface ResilientConnectOptions extends ContextSettings {
  /** Host name (or IP) to connect to, resolved through ridethrough's DNS cache. */
  readonly host: string;
  /** TCP port, 1–65535. */
  readonly port: number;
  /**
   * Connect with TLS: `true`, or `tls.connect` options (`ca`, `cert`, `key`, `rejectUnauthorized`, ...),
   * merged over the context's `tls` option. The servername is the host name unless given. Default: plain TCP.
   */
  readonly tls?: boolean | ConnectionOptions;
  /** Per-attempt TCP (and TLS handshake) timeout. Default: the context's `connectTimeout` (1000). Range 1–600000. */
  readonly connectTimeout?: number;
  /** Overall deadline across DNS, every attempt and backoff. Default: the context's `deadline` (10000). Range 1–3600000. */
  readonly deadline?: number;
  /** Most connect attempts, the first included. Default: the context's `maxAttempts` (25). Range 1–1000. */
  readonly maxAttempts?: number;
  /** Cancels the connect; the promise rejects with the signal's reason. */
  readonly signal?: AbortSignal;
  /** `socket.setNoDelay()` on the returned socket. Default: Node's (false). */
  readonly noDelay?: boolean;
  /** Enable TCP keep-alive on the returned socket. Default: Node's (false). */
  readonly keepAlive?: boolean;
  /** Initial keep-alive delay, used with `keepAlive`. Default 0 (the system's). Range 0–2147483647. */
  readonly keepAliveInitialDelay?: number;
}

/** Validated connect settings, defaults filled in from the context. @internal */
export interface ConnectSettings {
  /** Host name or IP. */
  readonly host: string;
  /** TCP port. */
  readonly port: number;
  /** TLS options (context's merged with the call's), or undefined for plain TCP. */
  readonly tls: ConnectionOptions | undefined;
  /** Per-attempt connect timeout, ms. */
  readonly connectTimeout: number;
  /** Overall deadline, ms. */
  readonly deadline: number;
  /** Most attempts. */
  readonly maxAttempts: number;
  /** The caller's signal. */
  readonly signal: AbortSignal | undefined;
  /** Socket option. */
  readonly noDelay: boolean | undefined;
  /** Socket option. */
  readonly keepAlive: boolean | undefined;
  /** Socket option. */
  readonly keepAliveInitialDelay: number | undefined;
}

const tlsForbidden = ['host', 'port', 'path', 'socket', 'lookup'];
const shared = resilienceOptions.table;

/** The rules of {@link ResilientConnectOptions}: the shared ones are the agent's, defaults come from the context. @internal */
export const connectOptions: OptionGroup<ResilientConnectOptions> = {
  table: {
    host: custom(checkHost, undefined, 'Host name (or IP) to connect to.', { defaultText: 'required', rangeText: 'non-empty string' }),
    port: custom(checkPort, undefined, 'TCP port.', { defaultText: 'required', rangeText: 'integer 1–65535' }),
    tls: custom(checkTls, undefined, "`true`, or `tls.connect` options merged over the context's `tls`.", {
      defaultText: 'plain TCP',
      rangeText: 'boolean or object',
    }),
    connectTimeout: shared.connectTimeout,
    deadline: shared.deadline,
    maxAttempts: shared.maxAttempts,
    signal: custom(checkSignal, undefined, 'Cancels the connect.', { defaultText: 'none', rangeText: 'AbortSignal' }),
    noDelay: bool(undefined, '`socket.setNoDelay()` on the returned socket.'),
    keepAlive: bool(undefined, 'TCP keep-alive on the returned socket.'),
    keepAliveInitialDelay: millis(0, 2_147_483_647, undefined, 'Initial keep-alive delay, used with `keepAlive`.', { defaultText: "0 (the system's)" }),
    dns: custom(() => undefined, undefined, 'DNS settings of the shared context.', { defaultText: 'none', rangeText: 'object' }),
    ejection: shared.ejection,
    backoff: shared.backoff,
  },
};

/** The context-level keys, not allowed next to an explicit context. */
const contextKeys = ['dns', 'ejection', 'backoff'] as const;

/**
 * Validates {@link ResilientConnectOptions} (the per-call part; `dns` is validated when its context is
 * made). Throws `TypeError`/`RangeError` naming the option.
 * @param withContext - a context was passed, so context-level settings are not allowed
 * @internal
 */
export function validateConnectOptions(options: unknown, withContext: boolean): asserts options is ResilientConnectOptions {
  if (options === null || typeof options !== 'object' || Array.isArray(options)) {
    throw new TypeError('ridethrough: resilientConnect() needs an options object with "host" and "port"');
  }
  checkGroup(connectOptions, options as ResilientConnectOptions, '');
  const o = options as Record<string, unknown>;
  checkHost('host', o.host);
  checkPort('port', o.port);
  if (withContext) {
    for (const key of contextKeys) {
      if (o[key] !== undefined) {
        throw new TypeError(`ridethrough: option "${key}" cannot be combined with a context; set it on the context (or agent) instead`);
      }
    }
  }
}

function checkHost(path: string, value: unknown): void {
  if (typeof value !== 'string' || value.length === 0) {
    throw new TypeError(`ridethrough: option "${path}" must be a non-empty string, got ${typeof value === 'string' ? 'an empty string' : typeof value}`);
  }
}

function checkPort(path: string, value: unknown): void {
  if (value === undefined) throw new TypeError(`ridethrough: option "${path}" is required`);
  checkNumber(path, value, 1, 65_535, { integer: true });
}

function checkTls(path: string, value: unknown): void {
  if (value === undefined || typeof value === 'boolean') return;
  checkObject(path, value);
  for (const key of tlsForbidden) {
    if ((value as Record<string, unknown>)[key] !== undefined) {
      throw new TypeError(`ridethrough: option "${path}.${key}" is not allowed; ridethrough picks the address to connect to`);
    }
  }
}

function checkSignal(path: string, value: unknown): void {
  if (value !== undefined && !(value instanceof AbortSignal)) throw new TypeError(`ridethrough: option "${path}" must be an AbortSignal`);
}

/**
 * Fills in defaults from the context.
 * @internal
 */
export function resolveConnectOptions(options: ResilientConnectOptions, ctx: ResilienceContext): ConnectSettings {
  const o = ctx.options;
  const tls = options.tls === undefined || options.tls === false ? undefined : { ...o.tls, ...(options.tls === true ? {} : options.tls) };
  return {
    host: options.host,
    port: options.port,
    tls,
    connectTimeout: options.connectTimeout ?? o.connectTimeout,
    deadline: options.deadline ?? o.deadline,
    maxAttempts: options.maxAttempts ?? o.maxAttempts,
    signal: options.signal,
    noDelay: options.noDelay,
    keepAlive: options.keepAlive,
    keepAliveInitialDelay: options.keepAliveInitialDelay,
  };
}
