/**
 * catalog: product names and prices. A leaf service (it calls nothing), kept in memory.
 *
 *   GET /items        → [{ id, name, price }]
 *   GET /items/:id    → { id, name, price, pod }
 *
 * Env: HOST, PORT, POD_NAME, LOG_LEVEL, SHUTDOWN_DELAY_MS, SHUTDOWN_TIMEOUT_MS (see lib/config.ts).
 */
import { commonConfig } from './lib/config.js';
import { createLogger } from './lib/log.js';
import { HttpError, startService } from './lib/service.js';

const names = ['kettle', 'teapot', 'mug', 'saucer', 'spoon', 'strainer', 'tray', 'cosy', 'caddy', 'whisk'];
const items = names.map((name, i) => ({ id: String(i + 1), name, price: 5 + ((i * 37) % 40) }));

const config = commonConfig('catalog');
const logger = createLogger(config, config.logLevel);

await startService({
  config,
  logger,
  routes: {
    'GET /items': () => ({ status: 200, body: items }),
    'GET /items/:id': ({ params }) => {
      const item = items.find((i) => i.id === params.id);
      if (!item) throw new HttpError(404, `no item ${params.id}`);
      return { status: 200, body: { ...item, pod: config.pod } };
    },
  },
});
