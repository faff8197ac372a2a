import { once } from 'node:events';
import http from 'node:http';
import type { AddressInfo, Socket } from 'node:net';

/** What a test pod does with a request. */
export type PodBehaviour = (req: http.IncomingMessage, res: http.ServerResponse, pod: Pod) => void;

/** The default: 200 with the pod's name as body. */
export const answerOk: PodBehaviour = (req, res, pod) => {
  req.resume();
  req.on('end', () => {
    res.setHeader('content-type', 'text/plain');
    res.end(pod.name);
  });
};

/**
 * A real HTTP server on a loopback address, standing in for a pod. Counts requests by method and
 * remembers request bodies so tests can check that nothing ran twice.
 */
export class Pod {
  readonly server: http.Server;
  readonly sockets = new Set<Socket>();
  /** Requests received, in order. */
  readonly requests: { method: string; url: string; body: string; headers: http.IncomingHttpHeaders }[] = [];
  /** Connections accepted. */
  connections = 0;
  behaviour: PodBehaviour;

  constructor(
    readonly name: string,
    readonly address: string,
    readonly port: number,
    behaviour: PodBehaviour = answerOk,
  ) {
    this.behaviour = behaviour;
    this.server = http.createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        this.requests.push({ method: req.method ?? '', url: req.url ?? '', body: Buffer.concat(chunks).toString(), headers: req.headers });
      });
      this.behaviour(req, res, this);
    });
    this.server.keepAliveTimeout = 5_000;
    this.server.on('connection', (s: Socket) => {
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

  /** Stops at once: refuses new connections and resets the open ones, as a killed pod does. */
  async kill(): Promise<void> {
    if (!this.server.listening) return;
    const closed = new Promise<void>((resolve) => this.server.close(() => resolve()));
    for (const s of this.sockets) s.destroy();
    await closed;
  }

  /** Requests whose method is `method`. */
  count(method?: string): number {
    return method ? this.requests.filter((r) => r.method === method).length : this.requests.length;
  }
}

/** Starts a pod. */
export async function startPod(name: string, address: string, port: number, behaviour?: PodBehaviour): Promise<Pod> {
  return new Pod(name, address, port, behaviour).start();
}
