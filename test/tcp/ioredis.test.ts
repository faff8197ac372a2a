/**
 * ioredis against a real redis-server that moves to a new loopback address while DNS lags: the two
 * recipes of docs/tcp.md (a Connector over resilientConnect, and one over createResilientLookup).
 */
import net from 'node:net';
import { AbstractConnector, Redis, type RedisOptions } from 'ioredis';
import { describe, expect, it } from 'vitest';
import type { ResilienceContext } from '../../src/core/context.js';
import { createResilientLookup, type ResilientLookup } from '../../src/tcp/lookup.js';
import { resilientConnect } from '../../src/tcp/resilient-connect.js';
import { type Cluster, sleep } from '../support/cluster.js';
import { RedisServer } from './redis-server.js';
import { freePort, useContextCluster } from './support.js';

const DNS_ADDRESS = '127.0.43.53';

/** Recipe 1: every (re)connection through resilientConnect (as in docs/tcp.md). */
function resilientConnector(ctx: ResilienceContext, deadline = 10_000): NonNullable<RedisOptions['Connector']> {
  return class ResilientConnector extends AbstractConnector {
    private readonly options: RedisOptions;
    constructor(options: unknown) {
      super(2_000);
      this.options = options as RedisOptions; // ioredis passes its own options
    }
    override async connect(): Promise<net.Socket> {
      this.connecting = true;
      const { host = 'localhost', port = 6379 } = this.options;
      try {
        const socket = await resilientConnect({ host, port, deadline, noDelay: true }, ctx);
        if (!this.connecting) socket.destroy();
        this.stream = socket;
        return socket;
      } catch (err) {
        // ioredis ends the client for good when connect() rejects; a closed socket makes it run its
        // retryStrategy instead, with this error reported as the connection error.
        this.firstError = err as Error;
        const closed = new net.Socket();
        closed.destroy();
        this.stream = closed;
        return closed;
      }
    }
  };
}

/** Recipe 2: ioredis connects by itself, resolving through a ridethrough lookup that learns from failures. */
function lookupConnector(lookup: ResilientLookup): NonNullable<RedisOptions['Connector']> {
  return class LookupConnector extends AbstractConnector {
    private readonly options: RedisOptions;
    constructor(options: unknown) {
      super(2_000);
      this.options = options as RedisOptions; // ioredis passes its own options
    }
    override connect(): Promise<net.Socket> {
      this.connecting = true;
      const { host = 'localhost', port = 6379 } = this.options;
      const socket = lookup.watchSocket(net.connect({ host, port, lookup, noDelay: true }), host);
      socket.once('error', (err) => {
        this.firstError = err;
      });
      this.stream = socket;
      return Promise.resolve(socket);
    }
  };
}

describe('ioredis with ridethrough, against a real redis-server', () => {
  const start = useContextCluster(DNS_ADDRESS);

  /** Runs the move scenario with a client made by `connect`. */
  async function moveScenario(c: Cluster, name: string, from: string, to: string, makeClient: (port: number) => Redis): Promise<void> {
    const port = await freePort(from);
    const first = await RedisServer.start(from, port);
    c.defer(() => first.kill());
    c.publish(name, [from], 1);

    const client = makeClient(port);
    c.defer(() => client.disconnect());
    const errors: string[] = [];
    client.on('error', (err: NodeJS.ErrnoException) => errors.push(err.code ?? err.message));
    await client.set('greeting', 'before');
    expect(await client.get('greeting')).toBe('before');
    expect(client.stream.remoteAddress).toBe(from);

    // The pod dies; its replacement comes up on a new address; DNS keeps the old answer for 1.5 s.
    await first.kill();
    const second = await RedisServer.start(to, port);
    c.defer(() => second.kill());
    const movedAt = Date.now();
    const publish = sleep(1_500).then(() => c.publish(name, [to], 1));

    // Commands issued right after the move wait for the reconnection and then succeed.
    const [set, get] = await Promise.all([client.set('greeting', 'after'), sleep(300).then(() => client.get('greeting'))]);
    await publish;
    expect(set).toBe('OK');
    expect(get).toBe('after');
    expect(await client.incr('counter')).toBe(1);
    expect(client.stream.remoteAddress).toBe(to);
    expect(Date.now() - movedAt).toBeLessThan(8_000);
  }

  it('recipe 1 (Connector over resilientConnect): reconnects to the new address and commands after the move succeed', async () => {
    const { c, ctx } = await start();
    await moveScenario(
      c,
      'redis-a.tcp.test',
      '127.0.43.1',
      '127.0.43.2',
      (port) => new Redis({ host: 'redis-a.tcp.test', port, Connector: resilientConnector(ctx), maxRetriesPerRequest: 20 }),
    );
  });

  it('recipe 2 (Connector over createResilientLookup + watchSocket): reconnects to the new address and commands after the move succeed', async () => {
    const { c, ctx } = await start();
    const lookup = createResilientLookup({}, ctx);
    await moveScenario(
      c,
      'redis-b.tcp.test',
      '127.0.43.3',
      '127.0.43.4',
      (port) => new Redis({ host: 'redis-b.tcp.test', port, Connector: lookupConnector(lookup), connectTimeout: 1_000, maxRetriesPerRequest: 50 }),
    );
    const endpoints = ctx.stats['tcp://redis-b.tcp.test']?.endpoints ?? [];
    expect(endpoints.map((e) => e.address)).toEqual(['127.0.43.4']);
  });

  it('recipe 1 gives ioredis back its retry loop when resilientConnect gives up', async () => {
    const { c, ctx } = await start();
    const port = await freePort('127.0.43.5');
    c.publish('redis-c.tcp.test', ['127.0.43.5'], 1);
    const retries: number[] = [];
    const client = new Redis({
      host: 'redis-c.tcp.test',
      port,
      Connector: resilientConnector(ctx, 200),
      lazyConnect: true,
      retryStrategy: (times) => {
        retries.push(times);
        return 50;
      },
    });
    c.defer(() => client.disconnect());
    client.on('error', () => {});
    // Nothing listens yet: the first connect gives up (deadline) and ioredis keeps retrying.
    const connecting = client.connect().catch(() => undefined);
    await sleep(500);
    const server = await RedisServer.start('127.0.43.5', port);
    c.defer(() => server.kill());
    await connecting;
    expect(await client.ping()).toBe('PONG');
    expect(client.status).toBe('ready');
    expect(retries.length).toBeGreaterThanOrEqual(1);
  });
});
