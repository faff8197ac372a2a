/**
 * The servers of the compatibility suite: one request handler served over HTTP/1.1 (plain) and over
 * TLS offering h2 and http/1.1 (ALPN), with upgrades (WebSocket and a raw protocol), CONNECT, server-sent
 * events and WebSocket over HTTP/2 (RFC 8441) when enabled. Every server records what it saw
 * (connections, requests, concurrency, socket closes), so a case can compare what reached the wire.
 */
import { createHash } from 'node:crypto';
import http from 'node:http';
import http2 from 'node:http2';
import type { AddressInfo, Server, Socket } from 'node:net';
import net from 'node:net';
import type { Duplex } from 'node:stream';
import { makeCert, type TestCert } from '../../support/certs.js';

/** A self-signed certificate for an IP address (subjectAltName IP). */
export type IpCert = TestCert;

/** Makes a self-signed certificate valid for `ip`. */
export const makeIpCert = (ip: string): IpCert => makeCert(ip);

/** One request as the server read it. */
export interface SeenRequest {
  readonly method: string;
  readonly url: string;
  readonly httpVersion: string;
  readonly headers: Record<string, string | string[] | undefined>;
  readonly body: string;
  readonly remoteAddress: string | undefined;
  /** Which accepted connection (1-based) carried it. */
  readonly connection: number;
}

/** What a server saw. */
export class ServerLog {
  /** Connections accepted. */
  connections = 0;
  /** Connections open now. */
  readonly open = new Set<Socket>();
  /** Connections the client closed (or that ended), with when (performance.now()). */
  readonly closes: number[] = [];
  /** Requests read, in order. */
  readonly requests: SeenRequest[] = [];
  /** Requests being answered now, and the most at once. */
  inFlight = 0;
  maxInFlight = 0;
  /** Upgrades and CONNECTs, by kind. */
  readonly tunnels: string[] = [];
}

/** Options of {@link startServer}. */
export interface ServerOptions {
  /** Loopback address to listen on. */
  readonly address: string;
  /** `http`: HTTP/1.1 only; `https`: TLS with ALPN h2 and http/1.1 (the h2 side through node:http2's compatibility API). */
  readonly protocol: 'http' | 'https';
  /** The certificate (https). */
  readonly cert?: IpCert;
  /** Announce RFC 8441 (WebSocket over HTTP/2) support (https). */
  readonly h2WebSocket?: boolean;
  /** The server's keep-alive timeout (http), ms. Default 5000. */
  readonly keepAliveTimeout?: number;
  /** Listen on this Unix socket instead of a TCP port. */
  readonly socketPath?: string;
}

/** A running server. */
export interface CompatServer {
  /** `protocol://address:port`. */
  readonly origin: string;
  readonly log: ServerLog;
  /** Closes the server and every connection. */
  close(): Promise<void>;
}

type AnyRequest = http.IncomingMessage | http2.Http2ServerRequest;
type AnyResponse = http.ServerResponse | http2.Http2ServerResponse;

/** Replaces each multipart boundary with a fixed word, so two requests with random boundaries compare. */
export function normalizeBoundary(text: string, contentType: string | undefined): string {
  const m = /boundary=("?)([^";]+)\1/.exec(contentType ?? '');
  return m ? text.split(m[2]!).join('BOUNDARY') : text;
}

/** The request handler both server kinds share; the path picks the behaviour. */
function handle(log: ServerLog, req: AnyRequest, res: AnyResponse, connectionOf: (req: AnyRequest) => number): void {
  const chunks: Buffer[] = [];
  log.inFlight++;
  log.maxInFlight = Math.max(log.maxInFlight, log.inFlight);
  let counted = true;
  const done = (): void => {
    if (counted) log.inFlight--;
    counted = false;
  };
  res.on('finish', done);
  res.on('close', done);
  req.on('data', (c: Buffer) => chunks.push(c));
  req.on('error', () => {});
  req.on('end', () => {
    const contentType = req.headers['content-type'] as string | undefined;
    const seen: SeenRequest = {
      method: req.method ?? '',
      url: req.url ?? '',
      httpVersion: req.httpVersion,
      headers: { ...req.headers, ...(contentType ? { 'content-type': normalizeBoundary(contentType, contentType) } : {}) },
      body: normalizeBoundary(Buffer.concat(chunks).toString('latin1'), contentType),
      remoteAddress: req.socket?.remoteAddress,
      connection: connectionOf(req),
    };
    log.requests.push(seen);
    route(seen, res as http.ServerResponse);
  });
}

function route(seen: SeenRequest, res: http.ServerResponse): void {
  const [, what = '', arg = ''] = seen.url.split('?')[0]!.split('/');
  const n = Number(arg);
  const h2 = seen.httpVersion === '2.0';
  switch (what) {
    case 'status':
      res.writeHead(n, { 'content-type': 'text/plain', ...(n === 429 || n === 503 ? { 'retry-after': '0' } : {}) });
      res.end(`status ${n}`);
      return;
    case 'slow-headers':
      setTimeout(() => echo(seen, res, h2), n).unref();
      return;
    case 'slow-body':
      res.writeHead(200, { 'content-type': 'text/plain' });
      res.write('start;');
      setTimeout(() => res.end('end'), n).unref();
      return;
    case 'big-header':
      res.writeHead(200, { 'x-big': 'x'.repeat(n) });
      res.end('big header');
      return;
    case 'big-body':
      res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': String(n) });
      res.end(Buffer.alloc(n, 97));
      return;
    case 'keepalive':
      // A keep-alive hint of `n` seconds (HTTP/1.1 only).
      res.writeHead(200, { 'content-type': 'text/plain', 'keep-alive': `timeout=${n}` });
      res.end('hinted');
      return;
    case 'redirect':
      res.writeHead(302, { location: '/echo/redirected' });
      res.end();
      return;
    case 'hold':
      return;
    case 'sse':
      res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
      res.write('retry: 60000\n\n');
      res.write('data: hello\n\n');
      res.write(`data: ${'x'.repeat(n || 5)}\n\n`);
      return;
    case 'trailers':
      res.writeHead(200, { 'content-type': 'text/plain', trailer: 'x-trailer' });
      res.write('body');
      res.addTrailers({ 'x-trailer': 'tail' });
      res.end();
      return;
    default:
      echo(seen, res, h2);
  }
}

function echo(seen: SeenRequest, res: http.ServerResponse, h2: boolean): void {
  const headers: http.OutgoingHttpHeaders = {
    'content-type': 'application/json',
    'x-multi': ['one', 'two'],
    'set-cookie': ['a=1; Path=/', 'b=2; Path=/; HttpOnly'],
  };
  if (h2) delete headers['x-multi'];
  res.writeHead(200, headers);
  const { remoteAddress: _r, connection: _c, ...rest } = seen;
  res.end(JSON.stringify(rest));
}

/** The value of Sec-WebSocket-Accept for a key. */
function wsAccept(key: string): string {
  return createHash('sha1').update(`${key}258EAFA5-E914-47DA-95CA-C5AB0DC85B11`).digest('base64');
}

/** One WebSocket frame, unmasked (server to client). */
function wsFrame(opcode: number, payload: Buffer): Buffer {
  const len = payload.length;
  const head =
    len < 126
      ? Buffer.from([0x80 | opcode, len])
      : len < 65_536
        ? Buffer.from([0x80 | opcode, 126, len >> 8, len & 255])
        : Buffer.concat([
            Buffer.from([0x80 | opcode, 127]),
            (() => {
              const b = Buffer.alloc(8);
              b.writeBigUInt64BE(BigInt(len));
              return b;
            })(),
          ]);
  return Buffer.concat([head, payload]);
}

/**
 * Serves a WebSocket on a byte stream: echoes text and binary messages, except `big:N`, answered with
 * N bytes; answers a close with a close.
 */
export function serveWebSocket(stream: Duplex): void {
  let buf = Buffer.alloc(0);
  stream.on('error', () => {});
  stream.on('data', (chunk: Buffer) => {
    buf = Buffer.concat([buf, chunk]);
    for (;;) {
      if (buf.length < 2) return;
      const opcode = buf[0]! & 0x0f;
      const masked = (buf[1]! & 0x80) !== 0;
      let len = buf[1]! & 0x7f;
      let off = 2;
      if (len === 126) {
        if (buf.length < 4) return;
        len = buf.readUInt16BE(2);
        off = 4;
      } else if (len === 127) {
        if (buf.length < 10) return;
        len = Number(buf.readBigUInt64BE(2));
        off = 10;
      }
      const maskOff = off;
      if (masked) off += 4;
      if (buf.length < off + len) return;
      const payload = Buffer.from(buf.subarray(off, off + len));
      if (masked) for (let i = 0; i < len; i++) payload[i]! ^= buf[maskOff + (i % 4)]!;
      buf = buf.subarray(off + len);
      if (opcode === 8) {
        stream.end(wsFrame(8, payload.subarray(0, 2)));
        return;
      }
      if (opcode === 9) {
        stream.write(wsFrame(10, payload));
        continue;
      }
      const text = payload.toString();
      if (opcode === 1 && text.startsWith('big:')) stream.write(wsFrame(1, Buffer.alloc(Number(text.slice(4)), 98)));
      else if (opcode === 1 || opcode === 2) stream.write(wsFrame(opcode, payload));
    }
  });
}

/** HTTP/1.1 upgrades: WebSocket, or any other protocol echoed as raw bytes. */
function onUpgrade(log: ServerLog, req: http.IncomingMessage, socket: Duplex, head: Buffer): void {
  socket.on('error', () => {});
  const protocol = String(req.headers.upgrade ?? '').toLowerCase();
  if (protocol === 'websocket') {
    log.tunnels.push('websocket/1.1');
    socket.write(
      `HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${wsAccept(String(req.headers['sec-websocket-key']))}\r\n\r\n`,
    );
    serveWebSocket(socket);
    if (head.length > 0) socket.unshift(head);
    return;
  }
  log.tunnels.push(`upgrade:${protocol}`);
  socket.write(`HTTP/1.1 101 Switching Protocols\r\nUpgrade: ${protocol}\r\nConnection: Upgrade\r\nx-upgraded: yes\r\n\r\n`);
  if (head.length > 0) socket.write(head);
  socket.pipe(socket);
}

/** HTTP/1.1 CONNECT: a tunnel that echoes. */
function onConnect(log: ServerLog, req: http.IncomingMessage, socket: Duplex, head: Buffer): void {
  socket.on('error', () => {});
  log.tunnels.push(`connect:${req.url}`);
  socket.write('HTTP/1.1 200 Connection Established\r\nx-tunnel: yes\r\n\r\n');
  if (head.length > 0) socket.write(head);
  socket.pipe(socket);
}

/** Starts a server. */
export async function startServer(options: ServerOptions): Promise<CompatServer> {
  const log = new ServerLog();
  const connectionNumbers = new WeakMap<object, number>();
  const connectionOf = (req: AnyRequest): number =>
    connectionNumbers.get((req as http2.Http2ServerRequest).stream?.session ?? req.socket) ?? connectionNumbers.get(req.socket) ?? 0;
  let server: Server;
  if (options.protocol === 'http') {
    const s = http.createServer((req, res) => handle(log, req, res, connectionOf));
    s.keepAliveTimeout = options.keepAliveTimeout ?? 5_000;
    s.on('upgrade', (req, socket, head) => onUpgrade(log, req, socket, head));
    s.on('connect', (req, socket, head) => onConnect(log, req, socket, head));
    server = s;
  } else {
    const cert = options.cert!;
    const s = http2.createSecureServer({ key: cert.key, cert: cert.cert, allowHTTP1: true, settings: { enableConnectProtocol: options.h2WebSocket === true } });
    s.on('request', (req, res) => handle(log, req, res, connectionOf));
    s.on('session', (session) => connectionNumbers.set(session, connectionNumbers.get(session.socket) ?? 0));
    s.on('upgrade', (req: http.IncomingMessage, socket: Duplex, head: Buffer) => onUpgrade(log, req, socket, head));
    // RFC 8441 (a WebSocket over an HTTP/2 stream) and plain CONNECT arrive as the compatibility API's 'connect'.
    s.on('connect', (req: http2.Http2ServerRequest, res: http2.Http2ServerResponse) => {
      const stream = req.stream;
      if (req.headers[':protocol'] === 'websocket') {
        log.tunnels.push('websocket/2');
        stream.respond({ ':status': 200 });
        serveWebSocket(stream);
        return;
      }
      log.tunnels.push(`connect/2:${String(req.headers[':authority'])}`);
      res.writeHead(200, { 'x-tunnel': 'yes' });
      stream.pipe(stream);
    });
    server = s as unknown as Server;
  }
  server.on('connection', (socket: Socket) => {
    log.connections++;
    connectionNumbers.set(socket, log.connections);
    log.open.add(socket);
    socket.on('close', () => {
      log.open.delete(socket);
      log.closes.push(performance.now());
    });
  });
  server.on('secureConnection', (socket: Socket) => {
    // The TLS socket of a connection: the same number as the TCP socket under it.
    connectionNumbers.set(socket, log.connections);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    if (options.socketPath) server.listen(options.socketPath, () => resolve());
    else server.listen(0, options.address, () => resolve());
  });
  const port = options.socketPath ? 0 : (server.address() as AddressInfo).port;
  return {
    origin: `${options.protocol}://${options.address}:${port}`,
    log,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of log.open) s.destroy();
        server.close(() => resolve());
      }),
  };
}

/** A port on `address` with nothing listening (connects are refused). */
export async function refusedOrigin(address: string): Promise<string> {
  const s = net.createServer();
  await new Promise<void>((resolve) => s.listen(0, address, () => resolve()));
  const port = (s.address() as AddressInfo).port;
  await new Promise<void>((resolve) => s.close(() => resolve()));
  return `http://${address}:${port}`;
}
