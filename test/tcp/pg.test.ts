/**
 * pg (node-postgres) against a real PostgreSQL server that moves to a new loopback address while DNS
 * lags: the recipe of docs/tcp.md (a `stream` factory over createResilientLookup, plus a connect-error retry).
 * Skipped, with a warning, when PostgreSQL is not installed.
 */
import pg from 'pg';
import pRetry from 'p-retry';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { ResilienceContext } from '../../src/core/context.js';
import { createResilientLookup } from '../../src/tcp/lookup.js';
import { lookupSocket } from '../../src/tcp/lookup-socket.js';
import { channelNames, type EndpointEvent } from '../../src/events/channels.js';
import { Cluster, recordChannel, sleep } from '../support/cluster.js';
import { PostgresCluster, postgresBinDir } from './postgres-server.js';
import { freePort } from './support.js';

const DNS_ADDRESS = '127.0.44.53';
const bin = postgresBinDir();
const skipReason =
  bin === undefined
    ? 'PostgreSQL is not installed (no postgres binary)'
    : process.getuid?.() !== 0
      ? 'starting PostgreSQL as the postgres user needs root'
      : undefined;
if (skipReason !== undefined && process.env.CI === 'true')
  throw new Error(`test/tcp/pg.test.ts must run under CI, but ${skipReason} (.ci/run installs postgresql)`);
if (skipReason !== undefined) console.warn(`test/tcp/pg.test.ts skipped: ${skipReason}`);

/** Errors raised before a query was sent: safe to retry. */
const connectCodes = new Set(['ECONNREFUSED', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH', 'ENOTFOUND', 'EAI_AGAIN']);
function isConnectError(err: unknown): boolean {
  const e = err as { code?: string; message?: string };
  return connectCodes.has(e.code ?? '') || /connection timeout|timeout expired/i.test(e.message ?? '');
}

describe.skipIf(skipReason !== undefined)('pg with ridethrough, against a real PostgreSQL server', () => {
  let postgres: PostgresCluster | undefined;
  let cluster: Cluster | undefined;

  beforeAll(() => {
    postgres = PostgresCluster.create(bin!);
  });

  afterEach(async () => {
    await postgres?.stop();
    await cluster?.close();
    cluster = undefined;
  });

  afterAll(async () => {
    await postgres?.destroy();
  });

  it('the server moves to a new address with DNS lagging 1.5 s: queries after the move reach it', async () => {
    const c = (cluster = await Cluster.start(DNS_ADDRESS));
    const ctx = new ResilienceContext({ dns: c.dnsOptions() });
    c.defer(() => ctx.close());
    const lookup = createResilientLookup({}, ctx);
    const ejected = recordChannel<EndpointEvent>(channelNames.endpointEjected);
    c.defer(() => ejected.stop());
    const port = await freePort('127.0.44.1');
    await postgres!.start('127.0.44.1', port);
    c.publish('pg.tcp.test', ['127.0.44.1'], 1);

    const pool = new pg.Pool({
      host: 'pg.tcp.test',
      port,
      user: 'postgres',
      database: 'postgres',
      max: 2,
      connectionTimeoutMillis: 1_000,
      stream: () => lookupSocket(lookup),
    });
    c.defer(() => pool.end());
    pool.on('error', () => {}); // idle clients whose server went away
    const query = (sql: string) =>
      pRetry(() => pool.query<{ addr: string }>(sql), {
        retries: 30,
        minTimeout: 50,
        maxTimeout: 500,
        randomize: true,
        maxRetryTime: 8_000,
        shouldRetry: ({ error }) => isConnectError(error),
      });

    expect((await query('select host(inet_server_addr()) as addr')).rows[0]?.addr).toBe('127.0.44.1');

    // The pod moves: the old address refuses, DNS says the old address for 1.5 s more.
    await postgres!.stop();
    await postgres!.start('127.0.44.2', port);
    const movedAt = Date.now();
    const publish = sleep(1_500).then(() => c.publish('pg.tcp.test', ['127.0.44.2'], 1));

    const result = await query('select host(inet_server_addr()) as addr');
    await publish;
    expect(result.rows[0]?.addr).toBe('127.0.44.2');
    expect((await query('select 41 + 1 as answer')).rows[0]).toEqual({ answer: 42 });
    expect(Date.now() - movedAt).toBeLessThan(8_000);
    // The lookup learnt from the refusals (lookupSocket watches each socket): the old address was ejected.
    expect(ejected.events.map((e) => e.message)).toContainEqual(
      expect.objectContaining({ hostname: 'pg.tcp.test', address: '127.0.44.1', reason: 'ECONNREFUSED' }),
    );
    const endpoints = ctx.stats['tcp://pg.tcp.test']?.endpoints ?? [];
    expect(endpoints.map((e) => e.address)).toEqual(['127.0.44.2']);
  });
});
