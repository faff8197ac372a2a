import { once } from 'node:events';
import net from 'node:net';
import tls from 'node:tls';
import { afterEach } from 'vitest';
import { ResilienceContext } from '../../src/core/context.js';
import type { TestCert } from '../support/certs.js';
import { Cluster } from '../support/cluster.js';

export { makeCert, type TestCert } from '../support/certs.js';

/** A real TCP (or TLS) echo server on a loopback address, standing in for a pod. */
export class EchoServer {
  readonly sockets = new Set<net.Socket>();
  /** Connections accepted. */
  connections = 0;

  constructor(
    readonly server: net.Server,
    readonly address: string,
  ) {
    server.on(server instanceof tls.Server ? 'secureConnection' : 'connection', (s: net.Socket) => {
      this.connections++;
      this.sockets.add(s);
      s.on('close', () => this.sockets.delete(s));
      s.on('error', () => {});
      s.pipe(s);
    });
  }

  /** The bound port. */
  get port(): number {
    return (this.server.address() as net.AddressInfo).port;
  }

  /** Stops listening and destroys every connection (a pod that went away: its address now refuses). */
  async kill(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    if (!this.server.listening) return;
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}

/** Starts a plain TCP echo server. */
export async function startEcho(address: string, port = 0): Promise<EchoServer> {
  const server = net.createServer();
  const echo = new EchoServer(server, address);
  server.listen(port, address);
  await once(server, 'listening');
  return echo;
}

/** Starts a TLS echo server with the given key and certificate. */
export async function startTlsEcho(address: string, port: number, cert: TestCert): Promise<EchoServer> {
  const server = tls.createServer({ key: cert.key, cert: cert.cert });
  const echo = new EchoServer(server, address);
  server.listen(port, address);
  await once(server, 'listening');
  return echo;
}

/** Writes `text` and resolves with what comes back (as much as `text`'s length). */
export async function roundTrip(socket: net.Socket, text: string): Promise<string> {
  return new Promise<string>((resolve, reject) => {
    let got = '';
    const onData = (chunk: Buffer): void => {
      got += chunk.toString();
      if (got.length >= text.length) {
        socket.off('data', onData);
        socket.off('error', reject);
        resolve(got);
      }
    };
    socket.on('data', onData);
    socket.once('error', reject);
    socket.write(text);
  });
}

/**
 * Registers an `afterEach` that closes the cluster of the current test and returns `start()`, which
 * starts a fresh {@link Cluster} with its DNS server on `dnsAddress` and a {@link ResilienceContext}
 * resolving through it (closed with the cluster). Call it inside a `describe` (or at the top level).
 */
export function useContextCluster(dnsAddress: string): () => Promise<{ c: Cluster; ctx: ResilienceContext }> {
  let cluster: Cluster | undefined;
  afterEach(async () => {
    await cluster?.close();
    cluster = undefined;
  });
  return async () => {
    const c = (cluster = await Cluster.start(dnsAddress));
    const ctx = new ResilienceContext({ dns: c.dnsOptions() });
    c.defer(() => ctx.close());
    return { c, ctx };
  };
}

/** A port free on `address` now (bound then released). */
export async function freePort(address: string): Promise<number> {
  const server = net.createServer();
  server.listen(0, address);
  await once(server, 'listening');
  const { port } = server.address() as net.AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

/** Rejects with what `p` rejects with, or fails if it resolves. */
export async function rejection(p: Promise<unknown>): Promise<unknown> {
  try {
    const value = await p;
    if (value instanceof net.Socket) value.destroy();
  } catch (err) {
    return err;
  }
  throw new Error('expected a rejection');
}
