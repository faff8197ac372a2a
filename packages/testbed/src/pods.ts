/**
 * Test pods: HTTP servers on loopback addresses whose answer each test chooses.
 * @module
 */
import http from 'node:http';
import { LoopbackServer } from './loopback-server.js';

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

/** One request a pod received. */
export interface PodRequest {
  readonly method: string;
  readonly url: string;
  readonly body: string;
  readonly headers: http.IncomingHttpHeaders;
}

/**
 * A real HTTP server on a loopback address, standing in for a pod. Counts requests by method and
 * remembers request bodies so tests can check that nothing ran twice.
 */
export class Pod extends LoopbackServer<http.Server, PodRequest> {
  /** What the pod does with each request; tests may swap it at any time. */
  behaviour: PodBehaviour;

  /**
   * @param name - the pod's name (the default behaviour answers it)
   * @param address - loopback IP to listen on
   * @param port - port (0 for any)
   * @param behaviour - what to do with each request
   */
  constructor(
    readonly name: string,
    address: string,
    port: number,
    behaviour: PodBehaviour = answerOk,
  ) {
    super(http.createServer(), address, port);
    this.behaviour = behaviour;
    this.server.on('request', (req: http.IncomingMessage, res: http.ServerResponse) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        this.requests.push({ method: req.method ?? '', url: req.url ?? '', body: Buffer.concat(chunks).toString(), headers: req.headers });
      });
      this.behaviour(req, res, this);
    });
    this.server.keepAliveTimeout = 5_000;
  }

  /** Stops at once: refuses new connections and resets the open ones, as a killed pod does. */
  kill(): Promise<void> {
    return this.stop();
  }
}

/** Starts a pod. */
export async function startPod(name: string, address: string, port: number, behaviour?: PodBehaviour): Promise<Pod> {
  return new Pod(name, address, port, behaviour).start();
}
