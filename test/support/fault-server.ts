import type { Socket } from 'node:net';
import { RawHttpServer, parseRequestHead } from './raw-http.js';

/**
 * What a {@link FaultServer} does once it has read a whole HTTP request:
 * - `reset`: destroys the connection with a TCP RST (`socket.resetAndDestroy()`), so the client sees
 *   `ECONNRESET` after its request was fully written: the request reached the server.
 * - `close`: closes the connection gracefully (FIN) without answering: undici's "other side closed".
 * - `hang`: never answers and keeps the connection open (a wedged pod).
 * - `reset-mid-body`: sends the status line and headers of a 200 with `Content-Length: 1000`, a few body
 *   bytes, then resets: the response had started when the connection broke.
 */
export type FaultMode = 'reset' | 'close' | 'hang' | 'reset-mid-body';

/** One request as the fault server read it. */
export interface FaultRequest {
  /** Request method. */
  readonly method: string;
  /** Request target. */
  readonly url: string;
  /** Header names in lower case; repeated headers joined with `, `. */
  readonly headers: Readonly<Record<string, string>>;
  /** The body bytes (chunked encoding removed). */
  readonly body: Buffer;
  /** When the request was complete (`performance.now()`). */
  readonly at: number;
}

/** Options of {@link startFaultServer}. */
export interface FaultServerOptions {
  /** What to do with each request. Default `reset`. */
  readonly mode?: FaultMode;
  /** Called with each complete request before the fault is applied (e.g. to move DNS to another pod). */
  readonly onRequest?: (request: FaultRequest, server: FaultServer) => void;
}

/**
 * A raw TCP server on a loopback address that reads complete HTTP/1.1 requests and then breaks the
 * connection in a chosen way. It stands in for a pod that dies, or a proxy that drops the connection,
 * after the request has reached it. Counts connections and requests so tests can prove that a request
 * was (or was not) sent again.
 */
export class FaultServer extends RawHttpServer<FaultRequest> {
  /** What the server does with each request; may be changed while running. */
  mode: FaultMode;
  private readonly onRequest: FaultServerOptions['onRequest'];

  /**
   * @param address - loopback IP to listen on
   * @param port - port (0 for any)
   * @param options - mode and request hook
   */
  constructor(address: string, port: number, options: FaultServerOptions = {}) {
    super(address, port);
    this.mode = options.mode ?? 'reset';
    this.onRequest = options.onRequest;
  }

  protected serve(socket: Socket): void {
    let buffered = Buffer.alloc(0);
    let handled = false;
    socket.on('data', (chunk: Buffer) => {
      if (handled) return;
      buffered = Buffer.concat([buffered, chunk]);
      const request = parseRequest(buffered);
      if (!request) return;
      handled = true;
      this.requests.push(request);
      this.onRequest?.(request, this);
      this.apply(socket);
    });
  }

  private apply(socket: Socket): void {
    switch (this.mode) {
      case 'reset':
        socket.resetAndDestroy();
        return;
      case 'close':
        socket.end();
        return;
      case 'hang':
        return;
      case 'reset-mid-body':
        socket.write('HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ncontent-length: 1000\r\n\r\npartial body');
        // Let the client take the headers before the connection breaks.
        setTimeout(() => {
          if (!socket.destroyed) socket.resetAndDestroy();
        }, 100);
        return;
    }
  }
}

/** Starts a {@link FaultServer}. */
export async function startFaultServer(address: string, port = 0, options: FaultServerOptions = {}): Promise<FaultServer> {
  return new FaultServer(address, port, options).start();
}

/**
 * Parses one complete HTTP/1.1 request (Content-Length or chunked body) from the start of `data`, and
 * how many bytes it took, so a server can read the next request of a keep-alive connection;
 * undefined while incomplete.
 */
export function readRequest(data: Buffer): { readonly request: FaultRequest; readonly length: number } | undefined {
  const head = parseRequestHead(data);
  if (!head) return undefined;
  const { method, url, headers } = head;
  const rest = data.subarray(head.bodyStart);
  let body: { readonly bytes: Buffer; readonly length: number } | undefined;
  if (headers['transfer-encoding']?.toLowerCase().includes('chunked')) {
    body = dechunk(rest);
  } else {
    const length = Number(headers['content-length'] ?? '0');
    body = rest.length >= length ? { bytes: rest.subarray(0, length), length } : undefined;
  }
  if (!body) return undefined;
  return { request: { method, url, headers, body: Buffer.from(body.bytes), at: performance.now() }, length: head.bodyStart + body.length };
}

/** Parses one complete HTTP/1.1 request from `data`; undefined while incomplete. */
function parseRequest(data: Buffer): FaultRequest | undefined {
  return readRequest(data)?.request;
}

/** Decodes a complete chunked body and the bytes it took; undefined until the last chunk and final CRLF have arrived. */
function dechunk(data: Buffer): { readonly bytes: Buffer; readonly length: number } | undefined {
  const parts: Buffer[] = [];
  let offset = 0;
  for (;;) {
    const lineEnd = data.indexOf('\r\n', offset);
    if (lineEnd === -1) return undefined;
    const size = Number.parseInt(data.subarray(offset, lineEnd).toString('latin1').split(';')[0] ?? '', 16);
    if (Number.isNaN(size)) return undefined;
    offset = lineEnd + 2;
    if (size === 0) {
      // Trailers (if any) end with an empty line.
      const end = data.indexOf('\r\n\r\n', offset - 2);
      return end === -1 ? undefined : { bytes: Buffer.concat(parts), length: end + 4 };
    }
    if (data.length < offset + size + 2) return undefined;
    parts.push(data.subarray(offset, offset + size));
    offset += size + 2;
  }
}
