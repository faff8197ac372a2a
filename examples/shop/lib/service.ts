import { once } from 'node:events';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { CommonConfig } from './config.js';
import { describeError, type Logger } from './log.js';

/** What a route handler returns: a status and a JSON body (or nothing for 204). */
export interface Reply {
  readonly status: number;
  readonly body?: unknown;
  readonly headers?: Record<string, string>;
}

/** What a route handler gets. */
export interface RequestContext {
  readonly req: http.IncomingMessage;
  /** Path parameters (`/items/:id` → `{ id }`). */
  readonly params: Record<string, string>;
  /** Query string parameters. */
  readonly query: URLSearchParams;
  /** Reads and parses a JSON request body (at most 64 KiB). */
  json(): Promise<unknown>;
}

/** A route: `'GET /items/:id'` and its handler. */
export type Routes = Record<string, (ctx: RequestContext) => Promise<Reply> | Reply>;

/** Options of {@link startService}. */
export interface ServiceOptions {
  readonly config: CommonConfig;
  readonly logger: Logger;
  readonly routes: Routes;
  /** Extra readiness condition (a database connection, say). Default: always ready once listening. */
  readonly ready?: () => boolean;
  /** Runs after the server has drained, before exit: close clients and connections here. */
  readonly onShutdown?: () => Promise<void>;
}

/** A running service. */
export interface Service {
  readonly server: http.Server;
  /** The address and port it listens on. */
  readonly address: AddressInfo;
  /** Starts the graceful shutdown (what SIGTERM does); resolves when drained and closed. */
  shutdown(reason: string): Promise<void>;
}

/** An error with an HTTP status, for handlers to throw. */
export class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

/**
 * Starts a plain `node:http` server with the two probe endpoints and a graceful shutdown:
 *
 * - `GET /healthz` (liveness): 200 while the process can answer at all.
 * - `GET /readyz` (readiness): 200 when ready to take traffic; 503 while starting, when `ready()`
 *   says no, and from the moment shutdown begins.
 * - On SIGTERM (and SIGINT): readiness turns false at once; after `SHUTDOWN_DELAY_MS` the listening
 *   socket closes (new connections are refused), in-flight requests finish and their responses carry
 *   `Connection: close`, idle keep-alive connections are closed so clients reconnect elsewhere, and
 *   after `SHUTDOWN_TIMEOUT_MS` whatever is left is cut. Then `onShutdown` runs and the process exits 0.
 */
export async function startService(options: ServiceOptions): Promise<Service> {
  const { config, logger, routes } = options;
  const table = compileRoutes(routes);
  let draining = false;
  let inFlight = 0;
  let idleWaiters: (() => void)[] = [];

  const server = http.createServer((req, res) => {
    inFlight++;
    res.on('close', () => {
      inFlight--;
      if (draining) {
        // The response is done: drop keep-alive connections that now sit idle.
        server.closeIdleConnections();
        if (inFlight === 0) for (const w of idleWaiters.splice(0)) w();
      }
    });
    if (draining) res.setHeader('connection', 'close');
    handle(req, res).catch((err: unknown) => {
      logger.error('handler failed', { err });
      if (!res.headersSent) send(res, 500, { error: 'internal error' });
      else res.destroy();
    });
  });
  // Node's default (5 s) is kept: clients such as ridethrough close idle connections a bit earlier.
  server.keepAliveTimeout = 5_000;

  async function handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://service.invalid');
    const started = performance.now();
    if (req.method === 'GET' && url.pathname === '/healthz') return send(res, 200, { status: 'ok' });
    if (req.method === 'GET' && url.pathname === '/readyz') {
      const ready = !draining && (options.ready?.() ?? true);
      return send(res, ready ? 200 : 503, { ready, draining });
    }
    const match = findRoute(table, req.method ?? 'GET', url.pathname);
    if (!match) return send(res, 404, { error: `no route for ${req.method} ${url.pathname}` });
    let reply: Reply;
    try {
      reply = await match.handler({ req, params: match.params, query: url.searchParams, json: () => readJson(req) });
    } catch (err) {
      if (err instanceof HttpError) reply = { status: err.status, body: { error: err.message } };
      else throw err;
    }
    send(res, reply.status, reply.body, reply.headers);
    const ms = Math.round(performance.now() - started);
    const level = reply.status >= 500 ? 'warn' : 'debug';
    logger.log(level, 'request', { method: req.method, path: url.pathname, status: reply.status, ms });
  }

  server.listen(config.port, config.host);
  await once(server, 'listening');
  const address = server.address() as AddressInfo;
  logger.info('listening', { address: address.address, port: address.port, ridethrough: config.ridethrough });

  let shuttingDown: Promise<void> | undefined;
  const shutdown = (reason: string): Promise<void> => {
    shuttingDown ??= (async () => {
      draining = true;
      logger.info('shutdown: readiness off', { reason, inFlight, delayMs: config.shutdownDelayMs });
      if (config.shutdownDelayMs > 0) await sleep(config.shutdownDelayMs);
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeIdleConnections();
      logger.info('shutdown: stopped accepting, draining', { inFlight });
      const drained = inFlight === 0 ? Promise.resolve() : new Promise<void>((resolve) => idleWaiters.push(resolve));
      const timedOut = await Promise.race([drained.then(() => false), sleep(config.shutdownTimeoutMs).then(() => true)]);
      if (timedOut) logger.warn('shutdown: timeout, cutting connections', { inFlight });
      server.closeAllConnections();
      await closed;
      idleWaiters = [];
      await options.onShutdown?.().catch((err: unknown) => logger.warn('shutdown: cleanup failed', { err }));
      logger.info('shutdown: done');
    })();
    return shuttingDown;
  };

  for (const signal of ['SIGTERM', 'SIGINT'] as const) {
    process.once(signal, () => {
      shutdown(signal).then(
        () => process.exit(0),
        (err: unknown) => {
          logger.error('shutdown failed', { err });
          process.exit(1);
        },
      );
    });
  }
  return { server, address, shutdown };
}

/** Writes a JSON response. */
function send(res: http.ServerResponse, status: number, body?: unknown, headers: Record<string, string> = {}): void {
  for (const [k, v] of Object.entries(headers)) res.setHeader(k, v);
  if (body === undefined) {
    res.writeHead(status).end();
    return;
  }
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) }).end(text);
}

async function readJson(req: http.IncomingMessage): Promise<unknown> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > 65_536) throw new HttpError(413, 'body too large');
    chunks.push(chunk);
  }
  if (size === 0) return undefined;
  try {
    return JSON.parse(Buffer.concat(chunks).toString('utf8')) as unknown;
  } catch {
    throw new HttpError(400, 'body is not JSON');
  }
}

interface CompiledRoute {
  readonly method: string;
  readonly parts: readonly string[];
  readonly handler: Routes[string];
}

function compileRoutes(routes: Routes): CompiledRoute[] {
  return Object.entries(routes).map(([key, handler]) => {
    const [method, path] = key.split(' ') as [string, string];
    return { method, parts: path.split('/').filter(Boolean), handler };
  });
}

function findRoute(table: readonly CompiledRoute[], method: string, pathname: string): { handler: Routes[string]; params: Record<string, string> } | undefined {
  const parts = pathname.split('/').filter(Boolean);
  for (const route of table) {
    if (route.method !== method || route.parts.length !== parts.length) continue;
    const params: Record<string, string> = {};
    const ok = route.parts.every((p, i) => {
      if (p.startsWith(':')) {
        params[p.slice(1)] = decodeURIComponent(parts[i]!);
        return true;
      }
      return p === parts[i];
    });
    if (ok) return { handler: route.handler, params };
  }
  return undefined;
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms).unref());
}

export { describeError };
