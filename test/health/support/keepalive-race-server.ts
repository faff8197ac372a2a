import { once } from 'node:events';
import net from 'node:net';
import type { AddressInfo, Socket } from 'node:net';

/** One complete request as the {@link KeepAliveRaceServer} read it. */
export interface RaceRequest {
  /** Request method. */
  readonly method: string;
  /** Request target. */
  readonly url: string;
  /** Header names in lower case. */
  readonly headers: Readonly<Record<string, string>>;
  /** The body (Content-Length bodies only). */
  readonly body: string;
  /** 1-based number of the connection it arrived on. */
  readonly connection: number;
  /** 1-based position of the request on its connection. */
  readonly onConnection: number;
}

/**
 * A raw TCP server speaking just enough HTTP/1.1 to reproduce the keep-alive race deterministically:
 * the first request on a connection gets a `200` with `Connection: keep-alive` (and a long
 * `Keep-Alive: timeout`, so the client keeps the connection); when a second request arrives on that
 * connection the server reads it completely and then drops the connection without answering — as a
 * server whose idle timeout fired just as the client reused the connection. `mode` picks how: `close`
 * (FIN: undici's "other side closed") or `reset` (RST: `ECONNRESET`).
 */
export class KeepAliveRaceServer {
  /** Complete requests read, in order (the dropped ones included). */
  readonly requests: RaceRequest[] = [];
  /** Connections accepted. */
  connections = 0;
  private readonly server: net.Server;
  private readonly sockets = new Set<Socket>();

  /**
   * @param address - loopback address to listen on
   * @param port - port (0 for any)
   * @param mode - how the reused connection is dropped
   */
  constructor(
    readonly address: string,
    readonly port: number,
    readonly mode: 'close' | 'reset' = 'close',
  ) {
    this.server = net.createServer((socket) => this.accept(socket));
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

  /** Requests read, optionally only those with `method`. */
  count(method?: string): number {
    return method ? this.requests.filter((r) => r.method === method).length : this.requests.length;
  }

  /** Stops listening and destroys every connection. */
  async stop(): Promise<void> {
    if (!this.server.listening) return;
    const closed = new Promise<void>((resolve) => this.server.close(() => resolve()));
    for (const s of this.sockets) s.destroy();
    await closed;
  }

  private accept(socket: Socket): void {
    const connection = ++this.connections;
    this.sockets.add(socket);
    socket.on('close', () => this.sockets.delete(socket));
    socket.on('error', () => {});
    let buffered = Buffer.alloc(0);
    let served = 0;
    socket.on('data', (chunk: Buffer) => {
      buffered = Buffer.concat([buffered, chunk]);
      for (;;) {
        const parsed = parseRequest(buffered);
        if (!parsed) return;
        buffered = buffered.subarray(parsed.length);
        served++;
        this.requests.push({ ...parsed.request, connection, onConnection: served });
        if (served === 1) {
          const body = `ok ${parsed.request.method} ${connection}`;
          socket.write(`HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: keep-alive\r\nKeep-Alive: timeout=60\r\n\r\n${body}`);
          continue;
        }
        // The second request on this connection: drop the connection without an answer.
        if (this.mode === 'reset') socket.resetAndDestroy();
        else socket.destroy();
        return;
      }
    });
  }
}

/** Starts a {@link KeepAliveRaceServer}. */
export async function startKeepAliveRaceServer(address: string, port = 0, mode: 'close' | 'reset' = 'close'): Promise<KeepAliveRaceServer> {
  return new KeepAliveRaceServer(address, port, mode).start();
}

/** Parses one complete request with a Content-Length (or no) body from the start of `data`. */
function parseRequest(data: Buffer): { request: Omit<RaceRequest, 'connection' | 'onConnection'>; length: number } | undefined {
  const headEnd = data.indexOf('\r\n\r\n');
  if (headEnd === -1) return undefined;
  const lines = data.subarray(0, headEnd).toString('latin1').split('\r\n');
  const [method = '', url = ''] = (lines[0] ?? '').split(' ');
  const headers: Record<string, string> = {};
  for (const line of lines.slice(1)) {
    const colon = line.indexOf(':');
    if (colon > 0) headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
  }
  if (headers['transfer-encoding'] !== undefined) throw new Error('KeepAliveRaceServer: chunked request bodies are not supported; send a string or a Buffer');
  const bodyLength = Number(headers['content-length'] ?? '0');
  const total = headEnd + 4 + bodyLength;
  if (data.length < total) return undefined;
  return { request: { method, url, headers, body: data.subarray(headEnd + 4, total).toString() }, length: total };
}
