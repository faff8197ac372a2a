import net from 'node:net';
import type { ResilientLookup } from './lookup.js';

/**
 * A `net.Socket` whose `connect()` resolves through `lookup` and reports its connect failures to it.
 * For drivers that take a socket factory and call `socket.connect(port, host)` themselves.
 */
class LookupSocket extends net.Socket {
  constructor(
    private readonly resolver: ResilientLookup,
    options?: net.SocketConstructorOpts,
  ) {
    super(options);
  }

  override connect(...args: unknown[]): this {
    const [first, second, third] = args;
    // Node's own normalised form (net.connect passes an array): leave it alone.
    if (Array.isArray(first)) return Reflect.apply(super.connect, this, args) as this;
    let options: net.SocketConnectOpts;
    let listener: unknown;
    if (first !== null && typeof first === 'object') {
      options = first as net.SocketConnectOpts;
      listener = second;
    } else if (typeof first === 'string' && !/^\d+$/.test(first)) {
      options = { path: first };
      listener = second;
    } else {
      options = typeof second === 'string' ? { port: Number(first), host: second } : { port: Number(first) };
      listener = typeof second === 'string' ? third : second;
    }
    if ('port' in options) {
      const host = options.host ?? 'localhost';
      if (net.isIP(host) === 0) this.resolver.watchSocket(this, host);
      options = { ...options, lookup: options.lookup ?? this.resolver };
    }
    return super.connect(options, typeof listener === 'function' ? (listener as () => void) : undefined);
  }
}

/**
 * Creates an unconnected `net.Socket` whose `connect(port, host)` resolves `host` through `lookup`
 * (a {@link createResilientLookup} function) and reports connect failures to it, for drivers that take a socket
 * factory and connect it themselves (`pg`'s `stream` option, for example).
 *
 * @param lookup - the lookup to resolve through and report to
 * @param options - `net.Socket` constructor options
 *
 * @example
 * ```ts
 * const lookup = createResilientLookup();
 * const client = new pg.Client({ host: 'postgres.db.svc.cluster.local', stream: () => lookupSocket(lookup) });
 * ```
 */
export function lookupSocket(lookup: ResilientLookup, options?: net.SocketConstructorOpts): net.Socket {
  return new LookupSocket(lookup, options);
}
