/**
 * The base of every test server on a loopback address.
 * @module
 */
import { once } from 'node:events';
import type { AddressInfo, Server, Socket } from 'node:net';

/**
 * What every test server on a loopback address shares (pods, raw fault servers): the listening
 * socket, the count of accepted connections, the open connections (so stopping can reset them, as a
 * killed pod does), and the requests a subclass records.
 */
export abstract class LoopbackServer<S extends Server, R extends { readonly method: string }> {
  /** Requests read, in order. */
  readonly requests: R[] = [];
  /** Connections accepted. */
  connections = 0;
  /** Connections open now. */
  readonly sockets = new Set<Socket>();

  /**
   * @param server - the server, without a connection handler yet (subclasses add theirs after this one)
   * @param address - loopback IP to listen on
   * @param port - port (0 for any)
   */
  constructor(
    readonly server: S,
    readonly address: string,
    readonly port: number,
  ) {
    server.on('connection', (s: Socket) => {
      this.connections++;
      this.sockets.add(s);
      s.on('close', () => this.sockets.delete(s));
    });
  }

  /** Starts listening. */
  async start(): Promise<this> {
    this.server.listen(this.port, this.address);
    await once(this.server, 'listening');
    return this;
  }

  /** The bound port. */
  get boundPort(): number {
    return (this.server.address() as AddressInfo).port;
  }

  /** Number of requests read, optionally only those with `method`. */
  count(method?: string): number {
    return method ? this.requests.filter((r) => r.method === method).length : this.requests.length;
  }

  /** Stops listening and destroys every open connection. */
  async stop(): Promise<void> {
    if (!this.server.listening) return;
    const closed = new Promise<void>((resolve) => this.server.close(() => resolve()));
    for (const s of this.sockets) s.destroy();
    await closed;
  }
}
