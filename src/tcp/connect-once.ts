import net from 'node:net';
import tls, { type ConnectionOptions } from 'node:tls';

/** One connect attempt to one address. @internal */
export interface ConnectTarget {
  /** The IP address to connect to. */
  readonly address: string;
  /** Its family. */
  readonly family: 4 | 6;
  /** TCP port. */
  readonly port: number;
  /** The host name, the TLS servername (unless `tls.servername` is set or it is an IP). */
  readonly hostname: string;
  /** TLS options, or undefined for plain TCP. */
  readonly tls: ConnectionOptions | undefined;
  /** How long the TCP connect plus TLS handshake may take, in ms. */
  readonly timeout: number;
  /** Aborts the attempt; the promise rejects with its reason. */
  readonly signal: AbortSignal;
  /** `setNoDelay` on the socket. */
  readonly noDelay: boolean | undefined;
  /** TCP keep-alive on the socket. */
  readonly keepAlive: boolean | undefined;
  /** Keep-alive initial delay, ms. */
  readonly keepAliveInitialDelay: number | undefined;
}

/**
 * Connects once to one address, with a connect timeout that covers the TLS handshake: resolves with the
 * socket once it is connected (`secureConnect` for TLS), or rejects with the socket error, an
 * `ETIMEDOUT` error, or the abort reason; the socket is destroyed on failure.
 * @internal
 */
export function connectOnce(t: ConnectTarget): Promise<net.Socket> {
  return new Promise<net.Socket>((resolve, reject) => {
    if (t.signal.aborted) {
      reject(t.signal.reason);
      return;
    }
    const base = {
      host: t.address,
      port: t.port,
      family: t.family,
      noDelay: t.noDelay,
      keepAlive: t.keepAlive,
      keepAliveInitialDelay: t.keepAliveInitialDelay,
    };
    const socket: net.Socket = t.tls
      ? tls.connect({ ...t.tls, ...base, servername: t.tls.servername ?? (net.isIP(t.hostname) ? undefined : t.hostname) })
      : net.connect(base);
    const ready = t.tls ? 'secureConnect' : 'connect';
    let tcpConnected = false;
    const onTcpConnect = (): void => {
      tcpConnected = true;
    };
    const timer = setTimeout(() => fail(timeoutError(t, tcpConnected)), t.timeout);
    const onAbort = (): void => fail(t.signal.reason);
    const cleanup = (): void => {
      clearTimeout(timer);
      t.signal.removeEventListener('abort', onAbort);
      socket.off('error', fail);
      socket.off(ready, onReady);
      socket.off('connect', onTcpConnect);
    };
    function fail(err: unknown): void {
      cleanup();
      socket.on('error', () => {});
      socket.destroy();
      reject(err);
    }
    function onReady(): void {
      cleanup();
      resolve(socket);
    }
    socket.once(ready, onReady);
    socket.once('connect', onTcpConnect);
    socket.on('error', fail);
    t.signal.addEventListener('abort', onAbort, { once: true });
  });
}

function timeoutError(t: ConnectTarget, tcpConnected: boolean): Error {
  const where = `${net.isIPv6(t.address) ? `[${t.address}]` : t.address}:${t.port}`;
  const message = tcpConnected
    ? `TLS handshake with ${where} timed out (connectTimeout ${t.timeout} ms)`
    : `connect ETIMEDOUT ${where} (no answer within connectTimeout ${t.timeout} ms)`;
  return Object.assign(new Error(message), { code: 'ETIMEDOUT', syscall: 'connect', address: t.address, port: t.port });
}
