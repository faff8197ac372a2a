/**
 * The raw-TCP server of the fault matrix: speaks just enough HTTP/1.1 (keep-alive, Content-Length and
 * chunked request bodies) to fail in one chosen way, and counts what it executed, with a hash of each
 * body, so a test can prove a request ran once (or twice, byte for byte the same).
 */
import { createHash } from 'node:crypto';
import type { Socket } from 'node:net';
import { readRequest } from '../../support/fault-server.js';
import { RawHttpServer } from '../../support/raw-http.js';

/**
 * What a {@link MatrixServer} does:
 * - `ok`: answers every request `200` with its name, keeping the connection alive;
 * - `rst-on-accept`: resets each connection as soon as it is accepted, before reading anything;
 * - `rst-after-read`: reads the whole request (executed), then resets the connection;
 * - `fin-on-reuse`: answers the first request of a connection (keep-alive); a later request on it is
 *   not executed: the connection is closed (FIN) without an answer, as a server whose idle timeout fired;
 * - `silence`: reads the request (executed) and never answers;
 * - `stall-body`: answers `200` with `Content-Length: 1000`, sends a few bytes, then nothing;
 * - `503`, `429`: answers that status with `Retry-After: 1`.
 */
export type ServerFault = 'ok' | 'rst-on-accept' | 'rst-after-read' | 'fin-on-reuse' | 'silence' | 'stall-body' | '503' | '429';

/** One request the server executed. */
export interface Execution {
  readonly method: string;
  readonly url: string;
  /** The `idempotency-key` header, if any. */
  readonly idempotencyKey: string | undefined;
  /** SHA-256 of the body bytes (chunked encoding removed), hex. */
  readonly bodyHash: string;
  readonly bodyLength: number;
  /** 1-based number of the connection it came on. */
  readonly connection: number;
}

/** SHA-256 of `bytes`, hex. */
export function sha256(bytes: Uint8Array | string): string {
  return createHash('sha256').update(bytes).digest('hex');
}

/** A raw HTTP/1.1 server on a loopback address that fails as its {@link ServerFault} says. */
export class MatrixServer extends RawHttpServer<Execution> {
  /**
   * @param name - what `ok` answers
   * @param address - loopback IP
   * @param port - port (0 for any)
   * @param fault - how it fails
   */
  constructor(
    readonly name: string,
    address: string,
    port: number,
    readonly fault: ServerFault,
  ) {
    super(address, port);
  }

  /** Executions, optionally only those with `method`. */
  executions(method?: string): readonly Execution[] {
    return method === undefined ? this.requests : this.requests.filter((r) => r.method === method);
  }

  protected serve(socket: Socket, connection: number): void {
    if (this.fault === 'rst-on-accept') {
      socket.resetAndDestroy();
      return;
    }
    // Chunks are joined only when a whole request may be there: a 10 MB body arrives in hundreds of
    // chunks, and joining on each would copy it hundreds of times.
    let chunks: Buffer[] = [];
    let size = 0;
    let served = 0;
    socket.on('data', (chunk: Buffer) => {
      chunks.push(chunk);
      size += chunk.length;
      for (;;) {
        if (socket.destroyed || !mayBeComplete(chunks, size)) return;
        const buffered = chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, size);
        const read = readRequest(buffered);
        if (!read) {
          chunks = [buffered];
          return;
        }
        const rest = buffered.subarray(read.length);
        chunks = rest.length > 0 ? [rest] : [];
        size = rest.length;
        served++;
        if (this.fault === 'fin-on-reuse' && served > 1) {
          socket.end();
          return;
        }
        const { request } = read;
        this.requests.push({
          method: request.method,
          url: request.url,
          idempotencyKey: request.headers['idempotency-key'],
          bodyHash: sha256(request.body),
          bodyLength: request.body.length,
          connection,
        });
        this.respond(socket);
      }
    });
  }

  private respond(socket: Socket): void {
    switch (this.fault) {
      case 'ok':
      case 'fin-on-reuse':
        socket.write(response('200 OK', this.name));
        return;
      case 'rst-after-read':
        socket.resetAndDestroy();
        return;
      case 'silence':
        return;
      case 'stall-body':
        socket.write('HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ncontent-length: 1000\r\n\r\npartial');
        return;
      case '503':
        socket.write(response('503 Service Unavailable', 'busy', 'retry-after: 1\r\n'));
        return;
      case '429':
        socket.write(response('429 Too Many Requests', 'slow down', 'retry-after: 1\r\n'));
        return;
      case 'rst-on-accept':
        return;
    }
  }
}

/**
 * Whether the buffered bytes may hold a whole request: the head is still incomplete (it is small), its
 * Content-Length is reached, or a chunked body has just ended.
 */
function mayBeComplete(chunks: readonly Buffer[], size: number): boolean {
  const first = chunks[0];
  if (first === undefined) return false;
  const head = first.indexOf('\r\n\r\n');
  if (head === -1) return true;
  const text = first.subarray(0, head).toString('latin1').toLowerCase();
  const length = /\r\ncontent-length:\s*(\d+)/.exec(text);
  if (length) return size >= head + 4 + Number(length[1]);
  if (!text.includes('\r\ntransfer-encoding:')) return true;
  const last = chunks.at(-1)!;
  return last.subarray(-5).toString('latin1') === '0\r\n\r\n' || last.length < 5;
}

function response(status: string, body: string, extra = ''): string {
  return `HTTP/1.1 ${status}\r\ncontent-type: text/plain\r\ncontent-length: ${Buffer.byteLength(body)}\r\nconnection: keep-alive\r\nkeep-alive: timeout=60\r\n${extra}\r\n${body}`;
}

/** Starts a {@link MatrixServer}. */
export async function startMatrixServer(name: string, address: string, port: number, fault: ServerFault): Promise<MatrixServer> {
  return new MatrixServer(name, address, port, fault).start();
}
