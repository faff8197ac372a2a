import net from 'node:net';
import type { Socket } from 'node:net';
import { LoopbackServer } from '@ridethrough/testbed';

/** The request line and headers of one HTTP/1.1 request, as {@link parseRequestHead} read them. */
export interface RequestHead {
  /** Request method. */
  readonly method: string;
  /** Request target. */
  readonly url: string;
  /** Header names in lower case; repeated headers joined with `, `. */
  readonly headers: Readonly<Record<string, string>>;
  /** Offset in the buffer where the body starts (just after the blank line ending the head). */
  readonly bodyStart: number;
}

/** Parses the request line and headers at the start of `data`; undefined until the whole head has arrived. */
export function parseRequestHead(data: Buffer): RequestHead | undefined {
  const headEnd = data.indexOf('\r\n\r\n');
  if (headEnd === -1) return undefined;
  const lines = data.subarray(0, headEnd).toString('latin1').split('\r\n');
  const [method = '', url = ''] = (lines[0] ?? '').split(' ');
  const headers: Record<string, string> = {};
  for (const line of lines.slice(1)) {
    const colon = line.indexOf(':');
    if (colon === -1) continue;
    const name = line.slice(0, colon).trim().toLowerCase();
    const value = line.slice(colon + 1).trim();
    headers[name] = headers[name] === undefined ? value : `${headers[name]}, ${value}`;
  }
  return { method, url, headers, bodyStart: headEnd + 4 };
}

/**
 * A raw TCP server on a loopback address for tests that need to misbehave below HTTP: it counts
 * connections, keeps the requests a subclass records and destroys every open connection on
 * {@link LoopbackServer.stop}. Subclasses read and answer each connection in {@link RawHttpServer.serve}.
 */
export abstract class RawHttpServer<R extends { readonly method: string }> extends LoopbackServer<net.Server, R> {
  /**
   * @param address - loopback IP to listen on
   * @param port - port (0 for any)
   */
  constructor(address: string, port: number) {
    super(net.createServer(), address, port);
    this.server.on('connection', (socket: Socket) => {
      socket.on('error', () => {});
      this.serve(socket, this.connections);
    });
  }

  /**
   * Handles one accepted connection (already counted and tracked, errors swallowed).
   * @param socket - the connection
   * @param connection - its 1-based number
   */
  protected abstract serve(socket: Socket, connection: number): void;
}
