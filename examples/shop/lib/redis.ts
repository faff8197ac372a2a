import { connect as netConnect, type Socket } from 'node:net';
import { AbstractConnector, Redis, type RedisOptions } from 'ioredis';
import { resilientConnect } from 'ridethrough';
import type { CommonConfig } from './config.js';
import { dnsOptionsFrom, serverLookup } from './upstream.js';

/**
 * An ioredis `Connector` whose sockets come from `open()`. ioredis creates one per client and calls
 * `connect()` for the first connection and for every reconnection, so each reconnection goes through
 * `open()` again: with ridethrough, a fresh look at DNS and at the health of each address.
 */
function connectorFor(open: () => Promise<Socket>): NonNullable<RedisOptions['Connector']> {
  return class SocketConnector extends AbstractConnector {
    constructor() {
      super(2_000);
    }
    override connect(): Promise<Socket> {
      this.connecting = true;
      return open().then((socket) => {
        if (!this.connecting) {
          // disconnect() was called while connecting.
          socket.destroy();
          throw new Error('Connection is closed.');
        }
        this.stream = socket;
        return socket;
      });
    }
  };
}

/**
 * A Redis client for the shop.
 *
 * With ridethrough, each (re)connection is made by `resilientConnect`: the host name goes through
 * ridethrough's DNS cache (record TTLs, stale answer while DNS is down, re-resolution when an address
 * fails), a dead address fails within `connectTimeout` (1 s) rather than the kernel's ~2 minutes, and
 * the next attempt goes to another address within the deadline.
 *
 * With `RIDETHROUGH=off`, ioredis connects on its own (locally through the same lab DNS, uncached).
 */
export function createRedis(config: CommonConfig, host: string, port: number): Redis {
  const common: RedisOptions = {
    host,
    port,
    // Fail commands at once while disconnected instead of queueing them: the HTTP caller gets a 503 and
    // /readyz turns false, so Kubernetes routes around this pod.
    enableOfflineQueue: false,
    maxRetriesPerRequest: 1,
    retryStrategy: (times) => Math.min(100 * 2 ** times, 2_000),
    lazyConnect: true,
  };
  if (config.ridethrough) {
    const dns = dnsOptionsFrom(config);
    return new Redis({
      ...common,
      Connector: connectorFor(() => resilientConnect({ host, port, deadline: config.upstreamDeadlineMs, dns, noDelay: true, keepAlive: true })),
    });
  }
  if (config.dnsServers) {
    const lookup = serverLookup(config.dnsServers);
    return new Redis({
      ...common,
      Connector: connectorFor(
        () =>
          new Promise<Socket>((resolve, reject) => {
            const socket = netConnect({ host, port, lookup, noDelay: true });
            socket.once('connect', () => {
              socket.off('error', reject);
              resolve(socket);
            });
            socket.once('error', reject);
          }),
      ),
    });
  }
  return new Redis(common);
}
