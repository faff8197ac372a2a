/**
 * inventory: stock levels and reservations. A leaf service, kept in memory (each pod has its own
 * numbers: enough for a demo of moving pods, not for a real shop).
 *
 *   GET  /stock/:id       → { id, available, pod }
 *   POST /reservations    { id, qty } → 201 { reservation, pod }
 *        Honours `Idempotency-Key`: the same key returns the first answer instead of reserving twice.
 *
 * Env: HOST, PORT, POD_NAME, LOG_LEVEL, SHUTDOWN_DELAY_MS, SHUTDOWN_TIMEOUT_MS (see lib/config.ts).
 */
import { randomUUID } from 'node:crypto';
import { commonConfig } from './lib/config.js';
import { createLogger } from './lib/log.js';
import { HttpError, type Reply, startService } from './lib/service.js';

const config = commonConfig('inventory');
const logger = createLogger(config, config.logLevel);

const stock = new Map<string, number>(Array.from({ length: 10 }, (_, i) => [String(i + 1), 1_000_000]));
const byKey = new Map<string, Reply>();

await startService({
  config,
  logger,
  routes: {
    'GET /stock/:id': ({ params }) => {
      const available = stock.get(params.id!);
      if (available === undefined) throw new HttpError(404, `no item ${params.id}`);
      return { status: 200, body: { id: params.id, available, pod: config.pod } };
    },
    'POST /reservations': async ({ req, json }) => {
      const key = req.headers['idempotency-key'];
      const seen = typeof key === 'string' ? byKey.get(key) : undefined;
      if (seen) return seen;
      const body = (await json()) as { id?: unknown; qty?: unknown } | undefined;
      const id = String(body?.id ?? '');
      const qty = Number(body?.qty ?? 1);
      const available = stock.get(id);
      if (available === undefined) throw new HttpError(404, `no item ${id}`);
      if (!Number.isInteger(qty) || qty < 1) throw new HttpError(400, 'qty must be a positive integer');
      if (available < qty) throw new HttpError(409, 'not enough stock');
      stock.set(id, available - qty);
      const reply: Reply = { status: 201, body: { reservation: randomUUID(), id, qty, pod: config.pod } };
      if (typeof key === 'string') byKey.set(key, reply);
      return reply;
    },
  },
});
