import type { Socket } from 'node:net';
import { RawHttpServer, parseRequestHead } from '../../support/raw-http.js';

/** One complete request as the {@link KeepAliveRaceServer} read it. */
export interface RaceRequest {
  /** Request method. */
  readonly method: string;
  /** Request target. */
  readonly url: string;
  /** Header names in lower case; repeated headers joined with `, `. */
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
export class KeepAliveRaceServer extends RawHttpServer<RaceRequest> {
  /**
   * @param address - loopback address to listen on
   * @param port - port (0 for any)
   * @param mode - how the reused connection is dropped
   */
  constructor(
    address: string,
    port: number,
    readonly mode: 'close' | 'reset' = 'close',
  ) {
    super(address, port);
  }

  protected serve(socket: Socket, connection: number): void {
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
          socket.write(
            `HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: keep-alive\r\nKeep-Alive: timeout=60\r\n\r\n${body}`,
          );
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
  const head = parseRequestHead(data);
  if (!head) return undefined;
  const { method, url, headers } = head;
  if (headers['transfer-encoding'] !== undefined) throw new Error('KeepAliveRaceServer: chunked request bodies are not supported; send a string or a Buffer');
  const bodyLength = Number(headers['content-length'] ?? '0');
  const total = head.bodyStart + bodyLength;
  if (data.length < total) return undefined;
  return { request: { method, url, headers, body: data.subarray(head.bodyStart, total).toString() }, length: total };
}
