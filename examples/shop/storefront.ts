/**
 * storefront: the shop's front door. It calls the other services, only through ridethrough: no
 * sidecar, no mesh. Its error rate is what the demo watches while pods move.
 *
 *   GET  /products              → catalog's list
 *   GET  /products/:id          → catalog item + inventory stock, in parallel
 *   GET  /cart/:user            → cart contents
 *   POST /cart/:user/items      { id, qty } → adds to the cart. Sent to cart with an `Idempotency-Key`
 *                               (the caller's, or a new one) so ridethrough may retry it safely.
 *
 * An upstream failure answers 502 with `{ error, code, upstream }`; `code` is ridethrough's error code
 * (RIDETHROUGH_DEADLINE_EXCEEDED, ...) or, with RIDETHROUGH=off, the socket error (ECONNREFUSED, ...).
 *
 * Env: CATALOG_URL (default http://catalog:8080), INVENTORY_URL (default http://inventory-headless:8080),
 * CART_URL (default http://cart:8080), and the common ones (lib/config.ts): RIDETHROUGH, DNS_SERVERS,
 * DNS_SEARCH, UPSTREAM_DEADLINE_MS, HOST, PORT, POD_NAME, LOG_LEVEL, SHUTDOWN_DELAY_MS, SHUTDOWN_TIMEOUT_MS.
 */
import { randomUUID } from 'node:crypto';
import { commonConfig, envString } from './lib/config.js';
import { createLogger, logRidethroughEvents } from './lib/log.js';
import { type Reply, startService } from './lib/service.js';
import { createUpstream, upstreamFailure } from './lib/upstream.js';

const config = commonConfig('storefront');
const urls = {
  catalog: envString('CATALOG_URL', 'http://catalog:8080'),
  inventory: envString('INVENTORY_URL', 'http://inventory-headless:8080'),
  cart: envString('CART_URL', 'http://cart:8080'),
};
const logger = createLogger(config, config.logLevel);
logRidethroughEvents(logger);
const upstream = createUpstream(config);

/** A failed call to another service, carried to the 502 answer. */
class UpstreamError extends Error {
  constructor(
    readonly upstream: string,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

/** Calls a service and parses its JSON answer; 4xx answers are passed through as `{ status, body }`. */
async function call(service: keyof typeof urls, path: string, init?: Parameters<typeof upstream.fetch>[1]): Promise<{ status: number; body: unknown }> {
  let res: Awaited<ReturnType<typeof upstream.fetch>>;
  try {
    res = await upstream.fetch(`${urls[service]}${path}`, init);
  } catch (err) {
    const failure = upstreamFailure(err);
    logger.warn('upstream call failed', { upstream: service, path, ...failure });
    throw new UpstreamError(service, failure.code, failure.message);
  }
  const body: unknown = res.headers.get('content-type')?.includes('json') ? await res.json() : await res.text();
  if (res.status >= 500) {
    logger.warn('upstream answered an error', { upstream: service, path, status: res.status });
    throw new UpstreamError(service, `HTTP_${res.status}`, `${service} answered ${res.status}`);
  }
  return { status: res.status, body };
}

/** Runs a handler, turning upstream failures into 502 answers. */
async function guarded(fn: () => Promise<Reply>): Promise<Reply> {
  try {
    return await fn();
  } catch (err) {
    if (err instanceof UpstreamError) return { status: 502, body: { error: err.message, code: err.code, upstream: err.upstream } };
    throw err;
  }
}

await startService({
  config,
  logger,
  onShutdown: () => upstream.close(),
  routes: {
    'GET /products': () => guarded(async () => call('catalog', '/items')),
    'GET /products/:id': ({ params }) =>
      guarded(async () => {
        const id = encodeURIComponent(params.id!);
        const [item, stock] = await Promise.all([call('catalog', `/items/${id}`), call('inventory', `/stock/${id}`)]);
        if (item.status !== 200) return item;
        if (stock.status !== 200) return stock;
        const i = item.body as { id: string; name: string; price: number; pod: string };
        const s = stock.body as { available: number; pod: string };
        return { status: 200, body: { id: i.id, name: i.name, price: i.price, available: s.available, servedBy: { catalog: i.pod, inventory: s.pod } } };
      }),
    'GET /cart/:user': ({ params }) => guarded(async () => call('cart', `/carts/${encodeURIComponent(params.user!)}`)),
    'POST /cart/:user/items': ({ req, params, json }) =>
      guarded(async () => {
        const body = await json();
        const given = req.headers['idempotency-key'];
        // A POST is retried after it may have reached the server only when it carries an Idempotency-Key
        // (and cart honours it). Without one, ridethrough retries it only when it surely never left.
        const key = typeof given === 'string' && given ? given : randomUUID();
        return call('cart', `/carts/${encodeURIComponent(params.user!)}/items`, {
          method: 'POST',
          headers: { 'content-type': 'application/json', 'idempotency-key': key },
          body: JSON.stringify(body ?? {}),
        });
      }),
    'GET /debug/upstreams': () => ({ status: 200, body: upstream.stats() }),
  },
});
