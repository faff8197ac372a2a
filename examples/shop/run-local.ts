/**
 * Runs the shop on this machine, with no cluster: every service is a real process on its own loopback
 * address (127.0.60.x, all on port 8080 as pods would be), the lab's DNS server stands in for CoreDNS,
 * and Redis runs on 127.0.60.40. Traffic is driven through the storefront while one inventory pod moves
 * to a new address, with the DNS answer lagging behind the move. Then it prints what the storefront saw.
 *
 *   npm run example:shop                   # both: with ridethrough, then with plain fetch
 *   RIDETHROUGH=on  npm run example:shop   # only with ridethrough
 *   RIDETHROUGH=off npm run example:shop   # only with plain fetch
 *
 * Other knobs (env): SHOP_SECONDS (traffic time, default 12), SHOP_RPS (requests/s, default 40),
 * SHOP_DNS_LAG_MS (how long DNS keeps answering the old address, default 3000).
 *
 * This file is the harness, not part of the shop: it takes the DNS server from the repository's testbed
 * package (packages/testbed).
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { Agent, request } from 'undici';
import { DnsServer } from '@ridethrough/testbed';

const here = dirname(fileURLToPath(import.meta.url));
const require = createRequire(import.meta.url);

/** Options of {@link runShop}. */
export interface ShopRunOptions {
  /** Services call each other through ridethrough (`true`) or plain fetch. */
  readonly ridethrough: boolean;
  /** How long traffic runs, in ms. Default 12000. */
  readonly durationMs?: number;
  /** When the inventory pod starts moving, in ms after traffic starts. Default 3000. */
  readonly moveAtMs?: number;
  /** How long DNS keeps answering the old address after the old pod got SIGTERM, in ms. Default 3000. */
  readonly dnsLagMs?: number;
  /** Requests per second sent to the storefront. Default 40. */
  readonly rps?: number;
  /** Progress lines. Default: none. */
  readonly progress?: (line: string) => void;
  /** Path of redis-server; `null` to run without Redis. Default: the first found on PATH or /usr/bin. */
  readonly redisServer?: string | null;
}

/** One request the driver sent to the storefront. */
export interface DriverResult {
  /** Start, in ms after traffic started. */
  readonly at: number;
  readonly route: 'product' | 'add-to-cart';
  /** HTTP status, or 0 when the storefront could not be reached. */
  readonly status: number;
  /** The storefront's error code for a 502 (the upstream failure), or the driver's own error. */
  readonly code: string | undefined;
  readonly ms: number;
  /** The inventory pod that answered (product requests). */
  readonly inventoryPod: string | undefined;
}

/** What the storefront saw during one run. */
export interface ShopReport {
  readonly mode: 'ridethrough' | 'plain fetch';
  readonly requests: number;
  readonly ok: number;
  readonly errors: number;
  /** Errors by code (`RIDETHROUGH_DEADLINE_EXCEEDED`, `ECONNREFUSED`, `HTTP_503`, ...). */
  readonly errorCodes: Record<string, number>;
  /** Latency of successful requests, ms. */
  readonly latency: { readonly p50: number; readonly p99: number; readonly max: number };
  /** Product requests answered, by inventory pod. */
  readonly inventoryPods: Record<string, number>;
  /** ridethrough events the storefront logged, by channel name. */
  readonly events: Record<string, number>;
  /** Whether Redis ran and cart became ready. */
  readonly cart: 'ready' | 'no redis-server' | 'unready';
  /** Per-second timeline: ok and errors. */
  readonly timeline: readonly { readonly second: number; readonly ok: number; readonly errors: number }[];
  /** The move, in ms after traffic started. */
  readonly move: { readonly sigterm: number; readonly dnsUpdated: number };
  /** Every request, in order. */
  readonly results: readonly DriverResult[];
}

const PORT = 8080;
const addresses = {
  dns: '127.0.60.2',
  storefront: '127.0.60.10',
  catalog: '127.0.60.11',
  inventoryOld: '127.0.60.21',
  inventoryNew: '127.0.60.22',
  cart: '127.0.60.31',
  redis: '127.0.60.40',
} as const;
const names = {
  catalog: 'catalog.shop.test',
  inventory: 'inventory.shop.test',
  cart: 'cart.shop.test',
  redis: 'redis.shop.test',
} as const;
/** TTL of the lab's answers, seconds (CoreDNS answers headless names with 5 s; shorter keeps the run short). */
const TTL = 2;

/** A service process. */
class Proc {
  readonly lines: Record<string, unknown>[] = [];
  private stderr = '';
  readonly exited: Promise<number | null>;

  constructor(
    readonly name: string,
    readonly child: ChildProcess,
  ) {
    this.exited = once(child, 'exit').then(([code]) => code as number | null);
    let buffer = '';
    child.stdout?.setEncoding('utf8').on('data', (chunk: string) => {
      buffer += chunk;
      let nl: number;
      while ((nl = buffer.indexOf('\n')) >= 0) {
        const line = buffer.slice(0, nl);
        buffer = buffer.slice(nl + 1);
        try {
          this.lines.push(JSON.parse(line) as Record<string, unknown>);
        } catch {
          this.lines.push({ msg: line });
        }
      }
    });
    child.stderr?.setEncoding('utf8').on('data', (chunk: string) => {
      this.stderr = (this.stderr + chunk).slice(-4000);
    });
  }

  get running(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null;
  }

  /** The last lines of stderr, for error messages. */
  get errorOutput(): string {
    return this.stderr.trim();
  }

  /** SIGTERM, then SIGKILL after `graceMs`. */
  async stop(graceMs = 5_000): Promise<void> {
    if (!this.running) return;
    this.child.kill('SIGTERM');
    const timer = setTimeout(() => this.child.kill('SIGKILL'), graceMs);
    await this.exited;
    clearTimeout(timer);
  }
}

function tsxLoader(): string {
  const pkg = require.resolve('tsx/package.json');
  return pathToFileURL(join(dirname(pkg), 'dist', 'loader.mjs')).href;
}

function startService(file: string, pod: string, host: string, env: Record<string, string>): Proc {
  const child = spawn(process.execPath, ['--import', tsxLoader(), join(here, file)], {
    env: {
      PATH: process.env.PATH ?? '/usr/bin:/bin',
      TSX_TSCONFIG_PATH: join(here, '..', 'tsconfig.json'),
      POD_NAME: pod,
      HOST: host,
      PORT: String(PORT),
      ...env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  return new Proc(pod, child);
}

/** The path of redis-server, or null when it is not installed. */
export function findRedisServer(): string | null {
  for (const dir of [...(process.env.PATH ?? '').split(':'), '/usr/bin', '/usr/local/bin', '/usr/sbin']) {
    if (dir && existsSync(join(dir, 'redis-server'))) return join(dir, 'redis-server');
  }
  return null;
}

/** Polls `/readyz` until 200; false when `timeoutMs` passes or the process exits. */
async function waitReady(proc: Proc, host: string, dispatcher: Agent, timeoutMs: number): Promise<boolean> {
  const until = Date.now() + timeoutMs;
  while (Date.now() < until && proc.running) {
    try {
      const res = await request(`http://${host}:${PORT}/readyz`, { dispatcher, headersTimeout: 1_000 });
      await res.body.dump();
      if (res.statusCode === 200) return true;
    } catch {
      // not listening yet
    }
    await sleep(100);
  }
  return false;
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return 0;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

/**
 * Starts the shop, drives traffic through the storefront while an inventory pod moves, stops
 * everything, and reports what the storefront saw.
 */
export async function runShop(options: ShopRunOptions): Promise<ShopReport> {
  const durationMs = options.durationMs ?? 12_000;
  const moveAtMs = options.moveAtMs ?? 3_000;
  const dnsLagMs = options.dnsLagMs ?? 3_000;
  const rps = options.rps ?? 40;
  const say = options.progress ?? (() => {});
  const redisPath = options.redisServer === undefined ? findRedisServer() : options.redisServer;

  const dns = new DnsServer({ address: addresses.dns, port: 0 });
  const driver = new Agent({ keepAliveTimeout: 1_000 });
  const procs: Proc[] = [];
  let redis: ChildProcess | undefined;
  try {
    await dns.start();
    dns.setRecords(names.catalog, { a: [addresses.catalog], ttl: TTL });
    dns.setRecords(names.inventory, { a: [addresses.inventoryOld], ttl: TTL });
    dns.setRecords(names.cart, { a: [addresses.cart], ttl: TTL });
    dns.setRecords(names.redis, { a: [addresses.redis], ttl: TTL });

    let cart: ShopReport['cart'] = 'no redis-server';
    if (redisPath) {
      redis = spawn(redisPath, ['--bind', addresses.redis, '--port', '6379', '--save', '', '--appendonly', 'no', '--protected-mode', 'no'], {
        stdio: 'ignore',
      });
      redis.on('error', () => {});
    }

    const common = {
      RIDETHROUGH: options.ridethrough ? 'on' : 'off',
      DNS_SERVERS: dns.server,
      DNS_SEARCH: '',
      LOG_LEVEL: 'info',
    };
    say(`starting services (${options.ridethrough ? 'with ridethrough' : 'with plain fetch'}), DNS at ${dns.server}`);
    const catalog = startService('catalog.ts', 'catalog-0', addresses.catalog, common);
    const inventoryOld = startService('inventory.ts', 'inventory-a', addresses.inventoryOld, common);
    const cartProc = startService('cart.ts', 'cart-0', addresses.cart, { ...common, REDIS_HOST: names.redis, REDIS_PORT: '6379' });
    const storefront = startService('storefront.ts', 'storefront-0', addresses.storefront, {
      ...common,
      CATALOG_URL: `http://${names.catalog}:${PORT}`,
      INVENTORY_URL: `http://${names.inventory}:${PORT}`,
      CART_URL: `http://${names.cart}:${PORT}`,
    });
    procs.push(catalog, inventoryOld, cartProc, storefront);

    for (const [proc, host] of [
      [catalog, addresses.catalog],
      [inventoryOld, addresses.inventoryOld],
      [storefront, addresses.storefront],
    ] as const) {
      if (!(await waitReady(proc, host, driver, 30_000))) {
        throw new Error(`${proc.name} did not become ready:\n${proc.errorOutput}`);
      }
    }
    if (redisPath) {
      cart = (await waitReady(cartProc, addresses.cart, driver, 10_000)) ? 'ready' : 'unready';
    }
    say(
      cart === 'ready'
        ? 'cart is ready (Redis on 127.0.60.40:6379)'
        : `cart is not ready: ${cart === 'no redis-server' ? 'redis-server not found, cart requests will fail (503)' : 'could not reach Redis'}`,
    );

    // Traffic: an open loop at a fixed rate, as real users do not wait for each other.
    const results: DriverResult[] = [];
    const inFlight = new Set<Promise<void>>();
    const t0 = Date.now();
    let n = 0;
    const send = (i: number): Promise<void> => {
      const at = Date.now() - t0;
      const started = performance.now();
      const addToCart = cart === 'ready' && i % 10 === 9;
      const path = addToCart ? `/cart/user-${i % 7}/items` : `/products/${(i % 10) + 1}`;
      return request(`http://${addresses.storefront}:${PORT}${path}`, {
        dispatcher: driver,
        method: addToCart ? 'POST' : 'GET',
        headers: addToCart ? { 'content-type': 'application/json' } : {},
        body: addToCart ? JSON.stringify({ id: String((i % 10) + 1), qty: 1 }) : undefined,
        headersTimeout: 30_000,
      })
        .then(async (res) => {
          const body = (await res.body.json().catch(() => undefined)) as { code?: string; servedBy?: { inventory?: string } } | undefined;
          results.push({
            at,
            route: addToCart ? 'add-to-cart' : 'product',
            status: res.statusCode,
            code: res.statusCode >= 400 ? (body?.code ?? `HTTP_${res.statusCode}`) : undefined,
            ms: performance.now() - started,
            inventoryPod: body?.servedBy?.inventory,
          });
        })
        .catch((err: unknown) => {
          results.push({
            at,
            route: addToCart ? 'add-to-cart' : 'product',
            status: 0,
            code: (err as { code?: string }).code ?? 'DRIVER_ERROR',
            ms: performance.now() - started,
            inventoryPod: undefined,
          });
        });
    };
    const traffic = (async () => {
      while (Date.now() - t0 < durationMs) {
        const p = send(n++).finally(() => inFlight.delete(p));
        inFlight.add(p);
        const next = t0 + (n * 1000) / rps;
        await sleep(Math.max(0, next - Date.now()));
      }
    })();

    // The move: a new inventory pod comes up, the old one gets SIGTERM; DNS keeps the old answer a while.
    await sleep(moveAtMs);
    say(`t=${Date.now() - t0}ms starting inventory-b on ${addresses.inventoryNew}`);
    const inventoryNew = startService('inventory.ts', 'inventory-b', addresses.inventoryNew, common);
    procs.push(inventoryNew);
    if (!(await waitReady(inventoryNew, addresses.inventoryNew, driver, 30_000))) {
      throw new Error(`inventory-b did not become ready:\n${inventoryNew.errorOutput}`);
    }
    const sigterm = Date.now() - t0;
    say(`t=${sigterm}ms SIGTERM to inventory-a (${addresses.inventoryOld}); DNS still answers it for ${dnsLagMs} ms`);
    const oldStopped = inventoryOld.stop(10_000);
    await sleep(dnsLagMs);
    dns.setRecords(names.inventory, { a: [addresses.inventoryNew], ttl: TTL });
    const dnsUpdated = Date.now() - t0;
    say(`t=${dnsUpdated}ms DNS now answers ${addresses.inventoryNew}`);
    await oldStopped;

    await traffic;
    await Promise.all(inFlight);
    say(`traffic done: ${results.length} requests`);

    // Stop the services the way Kubernetes does: SIGTERM, then wait.
    await Promise.all(procs.map((p) => p.stop()));

    return summarise(options.ridethrough, results, storefront, cart, { sigterm, dnsUpdated });
  } finally {
    await Promise.all(procs.map((p) => p.stop(2_000)));
    if (redis && redis.exitCode === null && redis.signalCode === null) {
      redis.kill('SIGTERM');
      await Promise.race([once(redis, 'exit'), sleep(3_000)]);
      if (redis.exitCode === null && redis.signalCode === null) redis.kill('SIGKILL');
    }
    await driver.close();
    await dns.stop();
  }
}

function summarise(ridethrough: boolean, results: DriverResult[], storefront: Proc, cart: ShopReport['cart'], move: ShopReport['move']): ShopReport {
  const sorted = [...results].sort((a, b) => a.at - b.at);
  const ok = sorted.filter((r) => r.status >= 200 && r.status < 300);
  const errors = sorted.filter((r) => !(r.status >= 200 && r.status < 300));
  const errorCodes: Record<string, number> = {};
  for (const r of errors) errorCodes[r.code ?? 'unknown'] = (errorCodes[r.code ?? 'unknown'] ?? 0) + 1;
  const latencies = ok.map((r) => r.ms).sort((a, b) => a - b);
  const inventoryPods: Record<string, number> = {};
  for (const r of ok) if (r.inventoryPod) inventoryPods[r.inventoryPod] = (inventoryPods[r.inventoryPod] ?? 0) + 1;
  const events: Record<string, number> = {};
  for (const line of storefront.lines) {
    const msg = line.msg;
    if (typeof msg === 'string' && msg.startsWith('ridethrough:')) events[msg] = (events[msg] ?? 0) + 1;
  }
  const seconds = Math.ceil((sorted[sorted.length - 1]?.at ?? 0) / 1000) || 1;
  const timeline = Array.from({ length: seconds }, (_, second) => {
    const inSecond = sorted.filter((r) => Math.floor(r.at / 1000) === second);
    const good = inSecond.filter((r) => r.status >= 200 && r.status < 300).length;
    return { second, ok: good, errors: inSecond.length - good };
  });
  return {
    mode: ridethrough ? 'ridethrough' : 'plain fetch',
    requests: sorted.length,
    ok: ok.length,
    errors: errors.length,
    errorCodes,
    latency: { p50: round(percentile(latencies, 50)), p99: round(percentile(latencies, 99)), max: round(latencies[latencies.length - 1] ?? 0) },
    inventoryPods,
    events,
    cart,
    timeline,
    move,
    results: sorted,
  };
}

function round(ms: number): number {
  return Math.round(ms * 10) / 10;
}

/** A human-readable report. */
export function formatReport(report: ShopReport): string {
  const lines: string[] = [];
  const rate = report.requests ? ((100 * report.errors) / report.requests).toFixed(1) : '0.0';
  lines.push(`== storefront ${report.mode === 'ridethrough' ? 'with ridethrough' : 'with plain fetch (RIDETHROUGH=off)'}`);
  lines.push(`requests ${report.requests}   ok ${report.ok}   errors ${report.errors} (${rate}%)`);
  lines.push(`latency of successes: p50 ${report.latency.p50} ms   p99 ${report.latency.p99} ms   max ${report.latency.max} ms`);
  if (report.errors)
    lines.push(
      `errors by code: ${Object.entries(report.errorCodes)
        .map(([k, v]) => `${k} ${v}`)
        .join(', ')}`,
    );
  lines.push(
    `inventory answers by pod: ${
      Object.entries(report.inventoryPods)
        .map(([k, v]) => `${k} ${v}`)
        .join(', ') || 'none'
    }`,
  );
  lines.push(`cart: ${report.cart}`);
  if (report.mode === 'ridethrough') {
    lines.push(
      `ridethrough events logged by the storefront: ${
        Object.entries(report.events)
          .map(([k, v]) => `${k} ${v}`)
          .join(', ') || 'none'
      }`,
    );
  }
  lines.push(`timeline (SIGTERM at ${(report.move.sigterm / 1000).toFixed(1)} s, DNS updated at ${(report.move.dnsUpdated / 1000).toFixed(1)} s):`);
  for (const t of report.timeline) {
    lines.push(
      `  ${String(t.second).padStart(3)} s  ok ${String(t.ok).padStart(3)}  errors ${String(t.errors).padStart(3)}  ${'#'.repeat(Math.min(60, t.errors))}`,
    );
  }
  return lines.join('\n');
}

async function main(): Promise<void> {
  const env = (process.env.RIDETHROUGH ?? '').toLowerCase();
  const modes = env === 'off' ? [false] : env === 'on' ? [true] : [true, false];
  const opts = {
    durationMs: Number(process.env.SHOP_SECONDS ?? 12) * 1000,
    rps: Number(process.env.SHOP_RPS ?? 40),
    dnsLagMs: Number(process.env.SHOP_DNS_LAG_MS ?? 3_000),
  };
  const reports: ShopReport[] = [];
  for (const ridethrough of modes) {
    const report = await runShop({ ridethrough, ...opts, progress: (l) => console.log(`  ${l}`) });
    console.log(`\n${formatReport(report)}\n`);
    reports.push(report);
  }
  if (reports.length === 2) {
    const [on, off] = reports as [ShopReport, ShopReport];
    console.log(`== summary: storefront errors during the move: ${on.errors} with ridethrough, ${off.errors} with plain fetch`);
  }
}

if (process.argv[1] && fileURLToPath(import.meta.url) === resolve(process.argv[1])) {
  main().catch((err: unknown) => {
    console.error(err);
    process.exitCode = 1;
  });
}
