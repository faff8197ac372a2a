/**
 * Memory benchmark, run in its own process started with `--expose-gc` (forked by bench/hot-path.ts):
 * - bytes of JS heap per cached host: resolve N names through a {@link DnsCache};
 * - bytes per endpoint: send one request to each of N hosts through a {@link ResilientAgent}
 *   (one endpoint, one pool and one keep-alive connection per host), against raw `undici.Agent`
 *   sending one request to each of N IP origins as the baseline.
 *
 * Each figure is the `heapUsed` delta between two fully collected heaps (`global.gc()` until stable),
 * divided by N. The objects measured are kept alive until after the second reading.
 *
 * Protocol over IPC: parent → {@link MemoryRequest}; child → {@link MemoryReply}.
 *
 * @module
 */
import { Agent, type Dispatcher, request } from 'undici';
import { ResilientAgent } from './subject.js';
import { DnsCache } from '../src/resolve/dns-cache.js';
import { collectedMemory, memoryAddress, memoryHost, round } from './lib.js';

/** What the parent asks for. */
export interface MemoryRequest {
  type: 'run';
  /** The lab DNS server, `ip:port`. */
  dns: string;
  /** The benchmark server's port (on every memory address). */
  port: number;
  /** How many hosts to measure with. */
  hosts: number;
  /** A name that resolves to a listening address, used to warm each client up. */
  warmHost: string;
}

/** One measurement. */
export interface MemoryFigure {
  /** What was measured. */
  name: string;
  /** What one unit is. */
  unit: 'host' | 'endpoint' | 'origin';
  /** Number of units. */
  count: number;
  /** JS heap growth per unit, bytes. */
  heapBytesPerUnit: number;
  /** Growth of `external` memory (Buffers and other native allocations V8 knows of) per unit, bytes. */
  externalBytesPerUnit: number;
}

/** The reply. */
export type MemoryReply = { type: 'memory'; figures: MemoryFigure[] } | { type: 'error'; message: string };

interface Reading {
  heap: number;
  external: number;
}

/** Collects until the heap stops shrinking, then reads it. */
async function settled(): Promise<Reading> {
  const m = await collectedMemory('bench/memory.ts');
  return { heap: m.heapUsed, external: m.external };
}

/** Runs `fn(i)` for i in [0, n) with at most `limit` in flight. */
async function forEachLimited(n: number, limit: number, fn: (i: number) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < n) await fn(next++);
  };
  await Promise.all(Array.from({ length: Math.min(limit, n) }, worker));
}

async function get(url: string, dispatcher: Dispatcher): Promise<void> {
  const { statusCode, body } = await request(url, { dispatcher });
  await body.text();
  if (statusCode !== 200) throw new Error(`unexpected status ${statusCode} from ${url}`);
}

function figure(name: string, unit: MemoryFigure['unit'], count: number, before: Reading, after: Reading): MemoryFigure {
  return {
    name,
    unit,
    count,
    heapBytesPerUnit: round((after.heap - before.heap) / count, 0),
    externalBytesPerUnit: round((after.external - before.external) / count, 0),
  };
}

async function measure(req: MemoryRequest): Promise<MemoryFigure[]> {
  const n = req.hosts;
  const figures: MemoryFigure[] = [];
  const dns = { servers: [req.dns], search: [], maxHosts: n + 16 };

  // 1. DnsCache: bytes per cached host name.
  {
    const cache = new DnsCache(dns);
    await cache.resolve(req.warmHost);
    const before = await settled();
    await forEachLimited(n, 32, async (i) => {
      await cache.resolve(memoryHost(i));
    });
    const after = await settled();
    if (cache.size < n) throw new Error(`DnsCache holds ${cache.size} hosts, expected at least ${n}`);
    figures.push(figure('DnsCache', 'host', n, before, after));
    cache.close();
  }

  // 2. ResilientAgent: one request to each of N hosts = N endpoints, each with its own pool and connection.
  {
    const agent = new ResilientAgent({ dns });
    try {
      await get(`http://${req.warmHost}:${req.port}/`, agent);
      const before = await settled();
      await forEachLimited(n, 32, (i) => get(`http://${memoryHost(i)}:${req.port}/`, agent));
      const after = await settled();
      const origins = Object.keys(agent.stats).length;
      if (origins < n) throw new Error(`ResilientAgent tracks ${origins} origins, expected at least ${n}`);
      figures.push(figure('ResilientAgent', 'endpoint', n, before, after));
    } finally {
      await agent.close();
    }
  }

  // 3. Raw undici Agent: one request to each of N IP origins (one pool and connection each).
  {
    const agent = new Agent();
    try {
      // Warm up on an address outside the measured set (the server listens on n + 1 memory addresses).
      await get(`http://${memoryAddress(n)}:${req.port}/`, agent);
      const before = await settled();
      await forEachLimited(n, 32, (i) => get(`http://${memoryAddress(i)}:${req.port}/`, agent));
      const after = await settled();
      figures.push(figure('undici Agent', 'origin', n, before, after));
    } finally {
      await agent.close();
    }
  }
  return figures;
}

process.once('message', (msg: MemoryRequest) => {
  measure(msg).then(
    (figures) => process.send?.({ type: 'memory', figures } satisfies MemoryReply, () => process.exit(0)),
    (err: unknown) =>
      process.send?.({ type: 'error', message: err instanceof Error ? (err.stack ?? err.message) : String(err) } satisfies MemoryReply, () => process.exit(1)),
  );
});
process.on('disconnect', () => process.exit(1));
