import type { ConnectionOptions } from 'node:tls';
import type { ResilienceContext } from '../core/context.js';
import { checkBoolean, checkKnownKeys, checkNumber, checkObject } from '../utils/validate.js';
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

const connectKeys = ['host', 'port', 'tls', 'connectTimeout', 'deadline', 'maxAttempts', 'signal', 'noDelay', 'keepAlive', 'keepAliveInitialDelay', 'dns', 'ejection', 'backoff'];
const contextKeys = ['dns', 'ejection', 'backoff'] as const;
const tlsForbidden = ['host', 'port', 'path', 'socket', 'lookup'];

/**
 * Validates {@link ResilientConnectOptions} (the per-call part; `dns`/`ejection`/`backoff` are
 * validated when their context is made). Throws `TypeError`/`RangeError` naming the option.
 * @param withContext - a context was passed, so context-level settings are not allowed
 * @internal
 */
export function validateConnectOptions(options: unknown, withContext: boolean): asserts options is ResilientConnectOptions {
  if (options === null || typeof options !== 'object' || Array.isArray(options)) {
    throw new TypeError('ridethrough: resilientConnect() needs an options object with "host" and "port"');
  }
  const o = options as Record<string, unknown>;
  checkKnownKeys('', o, connectKeys);
  if (typeof o.host !== 'string' || o.host.length === 0) {
    throw new TypeError(`ridethrough: option "host" must be a non-empty string, got ${typeof o.host === 'string' ? 'an empty string' : typeof o.host}`);
  }
  if (o.port === undefined) throw new TypeError('ridethrough: option "port" is required');
  checkNumber('port', o.port, 1, 65_535, { integer: true });
  if (o.tls !== undefined && typeof o.tls !== 'boolean') {
    checkObject('tls', o.tls);
    for (const key of tlsForbidden) {
      if ((o.tls as Record<string, unknown>)[key] !== undefined) {
        throw new TypeError(`ridethrough: option "tls.${key}" is not allowed; ridethrough picks the address to connect to`);
      }
    }
  }
  checkNumber('connectTimeout', o.connectTimeout, 1, 600_000, { unit: 'milliseconds' });
  checkNumber('deadline', o.deadline, 1, 3_600_000, { unit: 'milliseconds' });
  checkNumber('maxAttempts', o.maxAttempts, 1, 1000, { integer: true });
  if (o.signal !== undefined && !(o.signal instanceof AbortSignal)) {
    throw new TypeError('ridethrough: option "signal" must be an AbortSignal');
  }
  checkBoolean('noDelay', o.noDelay);
  checkBoolean('keepAlive', o.keepAlive);
  checkNumber('keepAliveInitialDelay', o.keepAliveInitialDelay, 0, 2_147_483_647, { unit: 'milliseconds' });
  if (withContext) {
    for (const key of contextKeys) {
      if (o[key] !== undefined) {
        throw new TypeError(`ridethrough: option "${key}" cannot be combined with a context; set it on the context (or agent) instead`);
      }
    }
  }
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
