/**
 * The keep-alive race, made deterministic: a raw HTTP/1.1 server answers the first request on a
 * connection with keep-alive and drops the connection when a second request arrives on it. Idempotent
 * requests are retried on a fresh connection and succeed; a POST without an idempotency key reached
 * the server, so it is not sent again and fails with NotRetryableError. Real parts only: a UDP DNS
 * server and raw TCP servers on 127.0.95.x.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { errorCode } from '../../src/policy/failure.js';
import { createResilientFetch } from '../../src/http/fetch.js';
import { NotRetryableError } from '../../src/errors/errors.js';
import { type RetryEvent, channelNames } from '../../src/events/channels.js';
import { Cluster, recordChannel, sleep } from '../support/cluster.js';
import { agentFor, endpointStats, originStats, rejection, send } from './support/helpers.js';
import { type KeepAliveRaceServer, startKeepAliveRaceServer } from './support/keepalive-race-server.js';

const DNS_ADDRESS = '127.0.95.53';
const PORT = 18_095;

let cluster: Cluster | undefined;

/**
 * Lets the connection that just answered become idle in its pool. undici marks it free again a moment
 * after the response ends; a request dispatched at once would get a new connection instead of the
 * kept-alive one (no race to reproduce).
 */
const idle = (): Promise<void> => sleep(30);

afterEach(async () => {
  await cluster?.close();
  cluster = undefined;
});

async function setup(mode: 'close' | 'reset', address: string): Promise<{ c: Cluster; server: KeepAliveRaceServer; origin: string }> {
  const c = (cluster = await Cluster.start(DNS_ADDRESS));
  const server = await startKeepAliveRaceServer(address, PORT, mode);
  c.defer(() => server.stop());
  const host = `${mode}.race.test`;
  c.publish(host, [address], 30);
  return { c, server, origin: `http://${host}:${PORT}` };
}

for (const [mode, address, codes] of [
  ['close', '127.0.95.1', ['UND_ERR_SOCKET']],
  ['reset', '127.0.95.2', ['ECONNRESET', 'UND_ERR_SOCKET']],
] as const) {
  describe(`a reused keep-alive connection dropped by the server (${mode === 'close' ? 'FIN' : 'RST'})`, () => {
    it('idempotent requests are retried on a new connection and all succeed', async () => {
      const { c, server, origin } = await setup(mode, address);
      const agent = agentFor(c, { breaker: false });
      const retries = recordChannel<RetryEvent>(channelNames.retry);
      c.defer(() => retries.stop());

      for (let n = 0; n < 10; n++) {
        const method = n % 3 === 2 ? 'PUT' : n % 3 === 1 ? 'DELETE' : 'GET';
        const res = await send(agent, `${origin}/items/${n}`, { method, ...(method === 'PUT' ? { body: `v${n}` } : {}) });
        expect(res.status).toBe(200);
        expect(res.body).toMatch(new RegExp(`^ok ${method} \\d+$`));
        await idle();
      }
      // The first request opened connection 1; every later one was sent on the kept-alive connection,
      // dropped there, and sent again as the first request of a new connection.
      expect(server.connections).toBe(10);
      expect(server.count()).toBe(19);
      expect(server.requests.filter((r) => r.onConnection === 2)).toHaveLength(9);
      expect(server.requests.filter((r) => r.method === 'PUT').every((r) => /^v\d$/.test(r.body))).toBe(true);
      expect(retries.events).toHaveLength(9);
      for (const e of retries.events) expect(codes).toContain(e.message.reason);

      // Dropped reused connections are soft failures: counted, never an ejection.
      const e = endpointStats(agent, origin, address);
      expect(e).toMatchObject({ state: 'healthy', attempts: 19, failures: 9, ejections: 0, consecutiveFailures: 0, inFlight: 0 });
    });

    it('a POST without an idempotency key is not sent again and fails with NotRetryableError; with a key it is retried', async () => {
      const { c, server, origin } = await setup(mode, address);
      const agent = agentFor(c, { breaker: false });

      // Open a keep-alive connection with a GET, then POST on it.
      expect((await send(agent, `${origin}/warm`)).status).toBe(200);
      await idle();
      const err = await rejection(send(agent, `${origin}/pay`, { method: 'POST', body: 'charge 1' }));
      expect(err).toBeInstanceOf(NotRetryableError);
      const e = err as NotRetryableError;
      expect(e.code).toBe('RIDETHROUGH_NOT_RETRYABLE');
      expect(e.reason).toBe('not-idempotent');
      expect(codes).toContain(errorCode(e.cause));
      expect(e.attempts).toHaveLength(1);
      expect(e.attempts[0]).toMatchObject({ address, maybeSent: true });
      // It reached the server exactly once.
      expect(server.count('POST')).toBe(1);
      expect(server.requests.find((r) => r.method === 'POST')).toMatchObject({ body: 'charge 1', onConnection: 2 });

      // Through resilientFetch as well (it hands the body over as a one-shot stream).
      const fetch = createResilientFetch({ agent });
      const warm = await fetch(`${origin}/warm`);
      expect(warm.status).toBe(200);
      await warm.text();
      await idle();
      const fetchErr = await rejection(fetch(`${origin}/pay`, { method: 'POST', body: 'charge 2' }));
      expect(fetchErr).toBeInstanceOf(NotRetryableError);
      expect(server.count('POST')).toBe(2);
      expect(server.requests.filter((r) => r.body === 'charge 2')).toHaveLength(1);

      // With an Idempotency-Key the server can deduplicate, so the POST is retried on a new connection.
      expect((await send(agent, `${origin}/warm`)).status).toBe(200);
      await idle();
      const keyed = await send(agent, `${origin}/pay`, { method: 'POST', body: 'charge 3', headers: { 'idempotency-key': 'pay-3' } });
      expect(keyed.status).toBe(200);
      expect(server.requests.filter((r) => r.body === 'charge 3').map((r) => [r.onConnection, r.headers['idempotency-key']])).toEqual([
        [2, 'pay-3'],
        [1, 'pay-3'],
      ]);
      const stats = originStats(agent, origin);
      expect(stats.endpoints).toMatchObject([{ address, state: 'healthy', inFlight: 0, failures: 3 }]);
    });
  });
}
