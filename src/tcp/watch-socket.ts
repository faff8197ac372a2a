import type { Socket } from 'node:net';
import { errorCode, isConnectFailure } from '../policy/failure.js';

/** Where {@link watchSocket} reports to: a {@link ResilientLookup} or anything with the same two methods. */
export interface ConnectReporter {
  /** An address failed to connect. */
  reportFailure(hostname: string, address: string, code?: string): void;
  /** An address connected. */
  reportSuccess(hostname: string, address: string): void;
}

/**
 * Watches a socket that is connecting to `hostname` (through a `lookup` from {@link createResilientLookup}) and
 * reports to `reporter` what its connect phase shows: every address that refused, was unreachable or
 * timed out (Node's `connectionAttemptFailed`/`connectionAttemptTimeout` events, or the socket's
 * `error`), an address being connected to when the socket is destroyed before connecting (a driver's
 * own connect timeout), and the address that connected. Errors after the connection is up are not
 * reported: they say nothing certain about the address. The listeners go away once the socket
 * connects or closes. Returns the socket.
 *
 * @example
 * ```ts
 * const socket = watchSocket(net.connect({ host, port, lookup }), host, lookup);
 * ```
 */
export function watchSocket<S extends Socket>(socket: S, hostname: string, reporter: ConnectReporter): S {
  let current: string | undefined;
  let lastCode: string | undefined;
  const reported = new Set<string>();
  const report = (address: string | undefined, code: string): void => {
    if (address === undefined || reported.has(address)) return;
    reported.add(address);
    reporter.reportFailure(hostname, address, code);
  };
  const onLookup = (err: Error | null, address: string | unknown): void => {
    if (!err && typeof address === 'string') current = address;
  };
  const onAttempt = (ip: string): void => {
    current = ip;
  };
  const onAttemptFailed = (ip: string, _port: number, _family: number, error: Error): void => report(ip, errorCode(error));
  const onAttemptTimeout = (ip: string): void => report(ip, 'ETIMEDOUT');
  const onError = (err: unknown): void => {
    const code = errorCode(err);
    lastCode = code;
    if (!isConnectFailure(err) && code !== 'ETIMEDOUT') return;
    const inner = err instanceof AggregateError ? err.errors : [err];
    for (const e of inner) {
      const address = (e as { address?: unknown } | null)?.address;
      report(typeof address === 'string' ? address : current, errorCode(e));
    }
  };
  const onConnect = (): void => {
    cleanup();
    if (socket.remoteAddress) reporter.reportSuccess(hostname, socket.remoteAddress);
  };
  const onClose = (): void => {
    cleanup();
    // Closed while connecting and nothing reported yet: the caller gave up waiting (a connect timeout)
    // or the connect failed in a way not listed above.
    if (reported.size === 0) report(current, lastCode === undefined || lastCode === 'EUNKNOWN' ? 'ETIMEDOUT' : lastCode);
  };
  const cleanup = (): void => {
    socket.off('lookup', onLookup);
    socket.off('connectionAttempt', onAttempt);
    socket.off('connectionAttemptFailed', onAttemptFailed);
    socket.off('connectionAttemptTimeout', onAttemptTimeout);
    socket.off('error', onError);
    socket.off('connect', onConnect);
    socket.off('close', onClose);
  };
  socket.on('lookup', onLookup);
  socket.on('connectionAttempt', onAttempt);
  socket.on('connectionAttemptFailed', onAttemptFailed);
  socket.on('connectionAttemptTimeout', onAttemptTimeout);
  socket.on('error', onError);
  socket.once('connect', onConnect);
  socket.once('close', onClose);
  return socket;
}
