/**
 * The benchmark's HTTP server, run in its own process (`child_process.fork`) so that serving does not
 * share the client's event loop. One keep-alive `node:http` server per loopback address, all on the
 * same port, each answering `200 ok` (2-byte body) to every request.
 *
 * Protocol over the IPC channel:
 * - parent → `{ type: 'listen', addresses: string[], delayMs? }` (answer each request after `delayMs`); child → `{ type: 'listening', port }` or `{ type: 'error', message }`
 * - parent → `{ type: 'cpu' }`; child → `{ type: 'cpu', micros, openConnections, acceptedConnections }`
 *   (user + system CPU time used so far; connections open now and accepted so far)
 * - parent → `{ type: 'add', address, port }`: one more server (a pod starting); child → `{ type: 'added', address }`
 *   or `{ type: 'error', message }`
 * - parent → `{ type: 'remove', address }`: that server stops and its connections are reset (a pod killed);
 *   child → `{ type: 'removed', address }`
 * - parent → `{ type: 'close' }` (or the parent going away): the child closes everything and exits.
 *
 * @module
 */
import { once } from 'node:events';
import http from 'node:http';
import type { AddressInfo, Socket } from 'node:net';

/** A message from the parent. */
export type ServerRequest =
  | { type: 'listen'; addresses: string[]; delayMs?: number }
  | { type: 'cpu' }
  | { type: 'add'; address: string; port: number }
  | { type: 'remove'; address: string }
  | { type: 'close' };
/** A message to the parent. */
export type ServerReply =
  | { type: 'listening'; port: number }
  | { type: 'cpu'; micros: number; openConnections: number; acceptedConnections: number }
  | { type: 'added'; address: string }
  | { type: 'removed'; address: string }
  | { type: 'error'; message: string };

const body = Buffer.from('ok');
const servers: http.Server[] = [];
const sockets = new Set<Socket>();
/** The connections of each server, to reset them when it is removed. */
const socketsOf = new WeakMap<http.Server, Set<Socket>>();
let accepted = 0;
let delayMs = 0;

function createOne(): http.Server {
  const server = http.createServer((req, res) => {
    req.resume();
    const answer = (): void => {
      res.writeHead(200, { 'content-type': 'text/plain', 'content-length': '2' });
      res.end(body);
    };
    if (delayMs > 0) setTimeout(answer, delayMs);
    else answer();
  });
  // Keep connections open for the whole run: no keep-alive races in a no-failure benchmark.
  server.keepAliveTimeout = 120_000;
  server.headersTimeout = 121_000;
  const own = new Set<Socket>();
  socketsOf.set(server, own);
  server.on('connection', (s: Socket) => {
    accepted++;
    sockets.add(s);
    own.add(s);
    s.on('close', () => {
      sockets.delete(s);
      own.delete(s);
    });
  });
  return server;
}

async function listenOn(address: string, port: number): Promise<number> {
  const server = createOne();
  server.listen({ host: address, port, backlog: 1024 });
  await Promise.race([
    once(server, 'listening'),
    once(server, 'error').then(([err]) => {
      throw err;
    }),
  ]);
  servers.push(server);
  return (server.address() as AddressInfo).port;
}

/** Stops the server on `address` and resets its connections, as a killed pod does. */
async function remove(address: string): Promise<void> {
  const i = servers.findIndex((s) => (s.address() as AddressInfo | null)?.address === address);
  if (i === -1) return;
  const [server] = servers.splice(i, 1) as [http.Server];
  const closed = new Promise<void>((resolve) => server.close(() => resolve()));
  for (const s of socketsOf.get(server) ?? []) s.destroy();
  await closed;
}

async function closeAll(): Promise<void> {
  for (const s of sockets) s.destroy();
  await Promise.all(servers.map((s) => new Promise<void>((resolve) => s.close(() => resolve()))));
  servers.length = 0;
}

/** Listens on every address with one shared port; retries with a new port if one is taken on some address. */
async function listenAll(addresses: string[]): Promise<number> {
  let lastError: unknown;
  for (let tries = 0; tries < 5; tries++) {
    try {
      const port = await listenOn(addresses[0]!, 0);
      for (const a of addresses.slice(1)) await listenOn(a, port);
      return port;
    } catch (err) {
      lastError = err;
      await closeAll();
    }
  }
  throw lastError;
}

function send(reply: ServerReply): void {
  process.send?.(reply);
}

process.on('message', (msg: ServerRequest) => {
  if (msg.type === 'listen') {
    delayMs = msg.delayMs ?? 0;
    listenAll(msg.addresses).then(
      (port) => send({ type: 'listening', port }),
      (err: unknown) => send({ type: 'error', message: err instanceof Error ? err.message : String(err) }),
    );
  } else if (msg.type === 'cpu') {
    const u = process.cpuUsage();
    send({ type: 'cpu', micros: u.user + u.system, openConnections: sockets.size, acceptedConnections: accepted });
  } else if (msg.type === 'add') {
    listenOn(msg.address, msg.port).then(
      () => send({ type: 'added', address: msg.address }),
      (err: unknown) => send({ type: 'error', message: err instanceof Error ? err.message : String(err) }),
    );
  } else if (msg.type === 'remove') {
    void remove(msg.address).then(() => send({ type: 'removed', address: msg.address }));
  } else if (msg.type === 'close') {
    closeAll().finally(() => process.exit(0));
  }
});
// The parent died or closed the channel: never linger.
process.on('disconnect', () => {
  closeAll().finally(() => process.exit(0));
});
