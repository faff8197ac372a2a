/**
 * cart: shopping carts in Redis, reached over TCP through ridethrough (lib/redis.ts).
 *
 *   GET  /carts/:user           → { user, items: { [id]: qty } }
 *   POST /carts/:user/items     { id, qty } → 201 { user, items }
 *        Requires `Idempotency-Key`: a repeated key returns the first answer and adds nothing, so a
 *        caller (storefront, through ridethrough) may retry a POST that may have reached this pod.
 *
 * Ready (GET /readyz → 200) only while connected to Redis; otherwise 503, and POSTs answer 503.
 *
 * Env: REDIS_HOST (default redis), REDIS_PORT (default 6379), and the common ones (lib/config.ts).
 */
import { commonConfig, envInt, envString } from './lib/config.js';
import { createLogger, logRidethroughEvents } from './lib/log.js';
import { createRedis } from './lib/redis.js';
import { HttpError, type Reply, startService } from './lib/service.js';

const config = commonConfig('cart');
const logger = createLogger(config, config.logLevel);
logRidethroughEvents(logger);
const redisHost = envString('REDIS_HOST', 'redis');
const redisPort = envInt('REDIS_PORT', 6379, 1, 65_535);
const redis = createRedis(config, redisHost, redisPort);

let lastState = '';
for (const state of ['ready', 'close', 'reconnecting', 'end'] as const) {
  redis.on(state, () => {
    if (state === lastState) return;
    lastState = state;
    logger.log(state === 'ready' ? 'info' : 'warn', `redis ${state}`, { host: redisHost, port: redisPort });
  });
}
let lastError = '';
redis.on('error', (err: Error) => {
  // ioredis emits one error per failed reconnection; log each distinct one once.
  if (err.message === lastError) return;
  lastError = err.message;
  logger.warn('redis error', { err });
});
redis.connect().catch(() => {
  // Logged above; ioredis keeps reconnecting and /readyz stays 503 until it succeeds.
});

function requireRedis(): void {
  if (redis.status !== 'ready') throw new HttpError(503, `redis is ${redis.status}`);
}

async function cartOf(user: string): Promise<Record<string, number>> {
  const raw = await redis.hgetall(`cart:${user}`);
  return Object.fromEntries(Object.entries(raw).map(([k, v]) => [k, Number(v)]));
}

await startService({
  config,
  logger,
  ready: () => redis.status === 'ready',
  onShutdown: async () => {
    await redis.quit().catch(() => redis.disconnect());
  },
  routes: {
    'GET /carts/:user': async ({ params }) => {
      requireRedis();
      return { status: 200, body: { user: params.user, items: await cartOf(params.user!) } };
    },
    'POST /carts/:user/items': async ({ req, params, json }) => {
      requireRedis();
      const key = req.headers['idempotency-key'];
      if (typeof key !== 'string' || key.length === 0 || key.length > 200) throw new HttpError(400, 'an Idempotency-Key header is required');
      const body = (await json()) as { id?: unknown; qty?: unknown } | undefined;
      const id = String(body?.id ?? '');
      const qty = Number(body?.qty ?? 1);
      if (!/^[\w-]{1,64}$/.test(id)) throw new HttpError(400, 'id must be a short identifier');
      if (!Number.isInteger(qty) || qty < 1 || qty > 1000) throw new HttpError(400, 'qty must be an integer from 1 to 1000');
      const user = params.user!;
      const idemKey = `idem:${user}:${key}`;
      // Claim the key first: only the first request with it changes the cart.
      const claimed = await redis.set(idemKey, 'pending', 'EX', 600, 'NX');
      if (claimed === null) {
        const previous = await redis.get(idemKey);
        if (previous && previous !== 'pending') return JSON.parse(previous) as Reply;
        throw new HttpError(409, 'a request with this Idempotency-Key is in progress');
      }
      await redis.hincrby(`cart:${user}`, id, qty);
      const reply: Reply = { status: 201, body: { user, items: await cartOf(user), pod: config.pod } };
      await redis.set(idemKey, JSON.stringify(reply), 'EX', 600);
      return reply;
    },
  },
});
