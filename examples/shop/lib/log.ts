import diagnosticsChannel from 'node:diagnostics_channel';
import { channelNames } from 'ridethrough';
import type { LogLevelName } from './config.js';

const order: Record<LogLevelName, number> = { debug: 10, info: 20, warn: 30, error: 40 };

/** A structured logger: one JSON object per line on stdout, ready for any log pipeline. */
export interface Logger {
  /** Writes `msg` with `fields` at `level`, when the level is enabled. */
  log(level: LogLevelName, msg: string, fields?: Record<string, unknown>): void;
  /** Whether lines at `level` are written. */
  enabled(level: LogLevelName): boolean;
  /** Shorthands. */
  debug(msg: string, fields?: Record<string, unknown>): void;
  info(msg: string, fields?: Record<string, unknown>): void;
  warn(msg: string, fields?: Record<string, unknown>): void;
  error(msg: string, fields?: Record<string, unknown>): void;
}

/**
 * Creates a logger whose lines carry `time`, `level`, `service`, `pod` and `msg`, then the fields.
 * Errors in fields are written as `{ name, message, code }`.
 */
export function createLogger(base: { service: string; pod: string }, minLevel: LogLevelName = 'info'): Logger {
  const min = order[minLevel];
  const log = (level: LogLevelName, msg: string, fields: Record<string, unknown> = {}): void => {
    if (order[level] < min) return;
    const line = { time: new Date().toISOString(), level, service: base.service, pod: base.pod, msg, ...serialise(fields) };
    process.stdout.write(`${JSON.stringify(line)}\n`);
  };
  return {
    log,
    enabled: (level) => order[level] >= min,
    debug: (m, f) => log('debug', m, f),
    info: (m, f) => log('info', m, f),
    warn: (m, f) => log('warn', m, f),
    error: (m, f) => log('error', m, f),
  };
}

function serialise(fields: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(fields)) out[k] = v instanceof Error ? describeError(v) : v;
  return out;
}

/** `{ name, message, code, cause }` of an error, for logs and JSON error bodies. */
export function describeError(err: unknown): Record<string, unknown> {
  if (!(err instanceof Error)) return { message: String(err) };
  const code = (err as { code?: unknown }).code;
  const cause = (err as { cause?: unknown }).cause;
  return {
    name: err.name,
    message: err.message,
    ...(typeof code === 'string' ? { code } : {}),
    ...(cause instanceof Error ? { cause: describeError(cause) } : {}),
  };
}

/** Levels at which each ridethrough event is logged: trouble at warn, routine at debug. */
const eventLevels: Record<keyof typeof channelNames, LogLevelName> = {
  attempt: 'debug',
  retry: 'info',
  endpointEjected: 'warn',
  endpointRestored: 'info',
  resolve: 'debug',
  stale: 'warn',
  deadline: 'error',
  giveUp: 'error',
  breaker: 'warn',
  hedge: 'debug',
  wait: 'debug',
  release: 'info',
  discoveryState: 'info',
  discoveryUpdate: 'debug',
};

/**
 * Writes every ridethrough event (`ridethrough:*` diagnostics channels) to the log, as
 * `{"msg":"ridethrough:retry", "event": {...}}`. Returns a function that unsubscribes.
 *
 * This is all the wiring ridethrough's observability needs: the events are plain objects on
 * `node:diagnostics_channel`, published only while someone listens.
 */
export function logRidethroughEvents(logger: Logger): () => void {
  const subscriptions: [string, (message: unknown) => void][] = [];
  for (const [key, name] of Object.entries(channelNames) as [keyof typeof channelNames, string][]) {
    const level = eventLevels[key];
    // No listener for a level that is not written: ridethrough then does not even build those events.
    if (!logger.enabled(level)) continue;
    const onMessage = (message: unknown): void => logger.log(level, name, { event: message });
    diagnosticsChannel.subscribe(name, onMessage);
    subscriptions.push([name, onMessage]);
  }
  return () => {
    for (const [name, fn] of subscriptions) diagnosticsChannel.unsubscribe(name, fn);
  };
}
