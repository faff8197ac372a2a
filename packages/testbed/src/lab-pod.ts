/**
 * The lab's pods: real HTTP servers on loopback addresses that count what they execute.
 * @module
 */
import { once } from 'node:events';
import http from 'node:http';
import type { Socket } from 'node:net';

/** What a {@link LabPod} served. */
export interface LabPodSummary {
  /** Pod name, such as `inventory-1`. */
  readonly name: string;
  /** Its loopback address. */
  readonly address: string;
  /** Requests it executed (responses lost or not), per client. */
  readonly served: Readonly<Record<string, number>>;
  /** Requests it refused by closing an idle keep-alive connection as they arrived (`idle-race`). */
  readonly raced: number;
}

/**
 * How a pod treats connections.
 * - `keep-alive`: a normal Node server (keep-alive, 5 s idle timeout).
 * - `close`: answers with `Connection: close`, so every request needs a new connection (and a lookup).
 * - `idle-race`: a keep-alive connection that sat idle for `idleCloseMs` is closed the moment the
 *   next request arrives on it, unanswered: the server's keep-alive timer and the client's reuse of
 *   the connection crossing on the wire, compressed in time.
 */
export type PodMode = 'keep-alive' | 'close' | 'idle-race';

/** Header carrying the request id the pods count executions by. */
export const requestIdHeader = 'x-request-id';
/** Header naming the client that sent a request. */
export const clientHeader = 'x-lab-client';
/** Response header naming the pod that answered. */
export const podHeader = 'x-pod';

/** Executions per request id, shared by every pod of a scenario. */
export class ExecutionLedger {
  /** Executions per request id. */
  readonly counts = new Map<string, number>();

  /** Records one execution of `id`. */
  record(id: string): void {
    this.counts.set(id, (this.counts.get(id) ?? 0) + 1);
  }

  /** Executions of `id` (0 when never executed). */
  executions(id: string): number {
    return this.counts.get(id) ?? 0;
  }
}

/** Options of {@link LabPod}. */
export interface LabPodOptions {
  /** Pod name (reported in the `x-pod` response header). */
  readonly name: string;
  /** Loopback address to listen on. */
  readonly address: string;
  /** Port to listen on. */
  readonly port: number;
  /** Connection behaviour. Default `keep-alive`. */
  readonly mode?: PodMode;
  /** Where executions are counted. */
  readonly ledger: ExecutionLedger;
  /** For `idle-race`: idle time after which a reused connection is closed as a request arrives. Default 40 ms. */
  readonly idleCloseMs?: number;
}

interface SocketState {
  served: number;
  lastEnd: number;
}

/**
 * A pod: a real `http.Server` on a loopback address. Every request is "executed" once its body has
 * arrived (counted in the {@link ExecutionLedger} by its `x-request-id`), then answered with 200 and
 * a small JSON body naming the pod.
 */
export class LabPod {
  /** Pod name, sent back in the `x-pod` header. */
  readonly name: string;
  /** The loopback address it listens on. */
  readonly address: string;
  /** The port it listens on. */
  readonly port: number;
  /** Executions per client name. */
  readonly served = new Map<string, number>();
  /** Requests refused by closing an idle connection as they arrived (`idle-race`). */
  raced = 0;
  private readonly server: http.Server;
  private readonly sockets = new Map<Socket, SocketState>();
  private readonly mode: PodMode;
  private readonly idleCloseMs: number;
  private readonly ledger: ExecutionLedger;

  /** @param options - name, address, port and behaviour */
  constructor(options: LabPodOptions) {
    this.name = options.name;
    this.address = options.address;
    this.port = options.port;
    this.mode = options.mode ?? 'keep-alive';
    this.idleCloseMs = options.idleCloseMs ?? 40;
    this.ledger = options.ledger;
    this.server = http.createServer((req, res) => this.handle(req, res));
    this.server.on('connection', (socket: Socket) => {
      this.sockets.set(socket, { served: 0, lastEnd: 0 });
      socket.on('close', () => this.sockets.delete(socket));
      socket.on('error', () => {});
    });
    this.server.on('clientError', (_err, socket) => socket.destroy());
  }

  /** Starts listening. Rejects when the address/port cannot be bound. */
  async start(): Promise<this> {
    this.server.listen(this.port, this.address);
    await once(this.server, 'listening');
    return this;
  }

  /** Whether the pod is listening. */
  get listening(): boolean {
    return this.server.listening;
  }

  /**
   * Stops as a pod with a graceful shutdown does: refuses new connections at once, lets requests in
   * progress finish, closes idle keep-alive connections, and drops what is left after `graceMs`.
   */
  async stop(graceMs = 500): Promise<void> {
    if (!this.server.listening) return;
    const closed = new Promise<void>((resolve) => this.server.close(() => resolve()));
    this.server.closeIdleConnections();
    const timer = setTimeout(() => this.server.closeAllConnections(), graceMs);
    await closed;
    clearTimeout(timer);
  }

  /** Stops at once, destroying every connection. */
  async kill(): Promise<void> {
    const closed = this.server.listening ? new Promise<void>((resolve) => this.server.close(() => resolve())) : Promise.resolve();
    for (const socket of this.sockets.keys()) socket.destroy();
    this.server.closeAllConnections();
    await closed;
  }

  /** What the pod served, for the report. */
  summary(): LabPodSummary {
    return { name: this.name, address: this.address, served: Object.fromEntries(this.served), raced: this.raced };
  }

  private handle(req: http.IncomingMessage, res: http.ServerResponse): void {
    const socket = req.socket;
    const state = this.sockets.get(socket);
    if (this.mode === 'idle-race' && state !== undefined && state.served > 0 && performance.now() - state.lastEnd >= this.idleCloseMs) {
      this.raced++;
      socket.destroy();
      return;
    }
    req.on('data', () => {});
    req.on('end', () => {
      const id = header(req, requestIdHeader);
      const client = header(req, clientHeader) ?? 'unknown';
      if (id !== undefined) this.ledger.record(id);
      this.served.set(client, (this.served.get(client) ?? 0) + 1);
      const body = JSON.stringify({ pod: this.name, id: id ?? null });
      res.setHeader('content-type', 'application/json');
      res.setHeader('content-length', Buffer.byteLength(body));
      res.setHeader(podHeader, this.name);
      if (this.mode === 'close') res.setHeader('connection', 'close');
      res.on('finish', () => {
        if (state !== undefined) {
          state.served++;
          state.lastEnd = performance.now();
        }
      });
      res.end(body);
    });
    req.on('error', () => {});
  }
}

function header(req: http.IncomingMessage, name: string): string | undefined {
  const v = req.headers[name];
  return Array.isArray(v) ? v[0] : v;
}
