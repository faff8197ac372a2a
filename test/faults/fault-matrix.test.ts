/**
 * The fault matrix (issue #16): every fault × GET / POST / POST with `Idempotency-Key` × the four APIs
 * (`createResilientFetch`, undici `request()` with a `ResilientAgent`, Node's `fetch` with the agent as
 * dispatcher, the `resilience()` interceptor), against raw-TCP servers that count executions and hash
 * bodies. Each case has its own host name in a real DNS server, answering two endpoints: the faulty one
 * first (a fresh client sends its first request to the first address), a healthy one second, except
 * for the total outage, where both refuse. Each case asserts:
 * - the outcome: a response (from the healthy endpoint, or the faulty one's status when it may not be
 *   retried), or a typed `RidethroughError` with its `code` and `attempts` (for Node's fetch, inside
 *   `TypeError('fetch failed')`, as docs/compatibility.md says);
 * - executions at each server: never two for a POST without key, bodies byte-identical when re-sent;
 * - the time taken, against the configured timeouts (generous margins: mechanisms, not milliseconds);
 * - that the fault was really hit (an attempt went to the faulty endpoint).
 * Cases are independent and run concurrently. Addresses 127.0.110.1–127.0.113.250, port 18110; the
 * blackhole rows need root (iptables chain RT-FAULT-MATRIX). `FAULT_MATRIX_LOG=1` prints what each case saw.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DnsServer, IptablesChain, iptablesUnavailableReason } from '@ridethrough/testbed';
import { type AttemptEvent, type ResilienceOptions, type RidethroughErrorCode, channelNames, type NotRetryableError } from '../../src/index.js';
import { subscribeChannel } from '../support/cluster.js';
import { type Api, type Body, apis, codesOf, giveUpOf, makeClient, type Seen } from './support/apis.js';
import { type MatrixServer, type ServerFault, sha256, startMatrixServer } from './support/matrix-server.js';

const PORT = 18_110;
const timeouts = { connectTimeout: 200, attemptTimeout: 300, bodyTimeout: 300, deadline: 2_000 } as const;

const dns = new DnsServer({ address: '127.0.110.254', port: 0 });
const blackholeSkip = iptablesUnavailableReason();
if (blackholeSkip !== undefined) console.warn(`test/faults/fault-matrix.test.ts: blackhole rows skipped: ${blackholeSkip}`);
const fw = new IptablesChain('RT-FAULT-MATRIX');

/** Attempts sent, per endpoint address (each case has addresses of its own). */
const attemptsTo = new Map<string, number>();
let unsubscribe: (() => void) | undefined;

beforeAll(async () => {
  await dns.start();
  if (blackholeSkip === undefined) fw.setup();
  unsubscribe = subscribeChannel<AttemptEvent>(channelNames.attempt, (e) => {
    attemptsTo.set(e.address, (attemptsTo.get(e.address) ?? 0) + 1);
  });
});

afterAll(async () => {
  unsubscribe?.();
  fw.cleanup();
  await dns.stop();
});

/** How a fault relates to the request: what ridethrough may do after it. */
type Kind =
  /** Surely never reached the server: retried for every method. */
  | 'unsent'
  /** May have reached the server: retried only when idempotent (method or key) and the body can be sent again. */
  | 'maybe-sent'
  /** A retryable status with Retry-After: retried for idempotent requests with a replayable body. */
  | 'status'
  /** Failed after the response headers reached the caller: never retried. */
  | 'after-headers'
  /** Every endpoint refuses: a give-up at the deadline. */
  | 'outage';

const methods = ['GET', 'POST', 'POST+key'] as const;
type Method = (typeof methods)[number];

interface Row {
  readonly fault: string;
  /** The first endpoint in DNS: a server failing this way, nothing listening (`refused`), or a blackholed address. */
  readonly faulty: ServerFault | 'refused' | 'blackhole';
  /** The second endpoint. */
  readonly other: 'ok' | 'refused';
  readonly kind: Kind;
  /** Whether the faulty server executes the request before failing. */
  readonly executes: boolean;
  /** Requests sent first to put a kept-alive connection in the pool of each endpoint. */
  readonly warmups?: number;
  /** Body kinds of the bodied requests (default: replayable only). */
  readonly bodies?: readonly Body['kind'][];
  /** Timeouts of the case, when not {@link timeouts}. */
  readonly timeouts?: Partial<Record<keyof typeof timeouts, number>>;
  /** Body size (default 16 KiB), and the methods sent (default all). */
  readonly bodyBytes?: number;
  readonly methods?: readonly Method[];
  /** Run alone, not next to other cases (it loads the machine). */
  readonly alone?: boolean;
  /** Least and most ms the caller may wait for the outcome. */
  readonly bound: readonly [number, number];
  /** The same when the request was retried on the healthy endpoint, if it differs. */
  readonly retriedBound?: readonly [number, number];
}

const T = timeouts;
const quick = [0, 1_000] as const;
const rows: readonly Row[] = [
  { fault: 'connection refused', faulty: 'refused', other: 'ok', kind: 'unsent', executes: false, bodies: ['replayable', 'stream'], bound: quick },
  // Reset as soon as accepted: ridethrough sees the request never left, and retries it whatever its method.
  {
    fault: 'RST before the request is read',
    faulty: 'rst-on-accept',
    other: 'ok',
    kind: 'unsent',
    executes: false,
    bodies: ['replayable', 'stream'],
    bound: quick,
  },
  {
    fault: 'RST after the request is read',
    faulty: 'rst-after-read',
    other: 'ok',
    kind: 'maybe-sent',
    executes: true,
    bodies: ['replayable', 'stream'],
    bound: quick,
  },
  // A large body is replayed byte for byte (issue #16: "10 MB replayed byte-identical"). The attempt
  // timeout counts from dispatch, upload included: room for sending 10 MB twice on a loaded machine.
  {
    fault: 'RST after the request is read, 10 MB body',
    faulty: 'rst-after-read',
    other: 'ok',
    kind: 'maybe-sent',
    executes: true,
    bodyBytes: 10 * 1024 * 1024,
    methods: ['POST+key'],
    bodies: ['replayable', 'stream'],
    timeouts: { attemptTimeout: 10_000, deadline: 20_000 },
    bound: [0, 15_000],
    alone: true,
  },
  { fault: 'FIN on a reused keep-alive connection', faulty: 'fin-on-reuse', other: 'ok', kind: 'maybe-sent', executes: false, warmups: 2, bound: quick },
  {
    fault: 'silence (attemptTimeout)',
    faulty: 'silence',
    other: 'ok',
    kind: 'maybe-sent',
    executes: true,
    bound: [T.attemptTimeout * 0.9, T.attemptTimeout + 1_000],
  },
  {
    fault: 'stalled body (bodyTimeout)',
    faulty: 'stall-body',
    other: 'ok',
    kind: 'after-headers',
    executes: true,
    bound: [T.bodyTimeout * 0.9, T.bodyTimeout + 500],
  },
  // Retry-After: 1 is honoured (it fits the deadline) before the retry; a status that is not retried comes back at once.
  { fault: '503 with Retry-After', faulty: '503', other: 'ok', kind: 'status', executes: true, bound: quick, retriedBound: [900, T.deadline + 500] },
  { fault: '429 with Retry-After', faulty: '429', other: 'ok', kind: 'status', executes: true, bound: quick, retriedBound: [900, T.deadline + 500] },
  {
    fault: 'blackhole (iptables DROP)',
    faulty: 'blackhole',
    other: 'ok',
    kind: 'unsent',
    executes: false,
    bound: [T.connectTimeout * 0.9, T.connectTimeout + 1_300],
  },
  // The whole deadline is used (a pod that comes back late in it is still found), and not much more.
  {
    fault: 'total outage (every endpoint refuses)',
    faulty: 'refused',
    other: 'refused',
    kind: 'outage',
    executes: false,
    bound: [T.deadline * 0.95, T.deadline + 500],
  },
];

/** What a case must end with. */
type Expected =
  | { readonly outcome: 'healthy' }
  | { readonly outcome: 'status'; readonly status: number }
  | { readonly outcome: 'body-timeout' }
  | { readonly outcome: 'give-up'; readonly code: RidethroughErrorCode; readonly reasons?: readonly NotRetryableError['reason'][] };

function expected(row: Row, method: Method, api: Api, body: Body['kind'] | undefined): { result: Expected; faulty: number; healthy: number } {
  const idempotent = method !== 'POST';
  // A dispatcher under Node's fetch gets every body as a one-shot stream (README, "What happens to a request").
  const replayable = body === undefined || (body === 'replayable' && api !== 'node-fetch');
  const faulty = row.executes ? 1 : 0;
  switch (row.kind) {
    case 'unsent':
      return { result: { outcome: 'healthy' }, faulty: 0, healthy: 1 };
    case 'outage':
      return { result: { outcome: 'give-up', code: 'RIDETHROUGH_DEADLINE_EXCEEDED' }, faulty: 0, healthy: 0 };
    case 'after-headers':
      return { result: { outcome: 'body-timeout' }, faulty, healthy: 0 };
    case 'status':
      if (idempotent && replayable) return { result: { outcome: 'healthy' }, faulty, healthy: 1 };
      return { result: { outcome: 'status', status: Number(row.faulty) }, faulty, healthy: 0 };
    case 'maybe-sent':
      if (!idempotent || !replayable) {
        // Either reason is true when both hold (a POST without key whose body was a one-shot stream).
        const reasons = [...(idempotent ? [] : ['not-idempotent' as const]), ...(replayable ? [] : ['body-not-replayable' as const])];
        return { result: { outcome: 'give-up', code: 'RIDETHROUGH_NOT_RETRYABLE', reasons }, faulty, healthy: 0 };
      }
      return { result: { outcome: 'healthy' }, faulty, healthy: 1 };
  }
}

/** Case n's two addresses: 127.0.110.1 … 127.0.113.250. */
function address(i: number): string {
  return `127.0.${110 + Math.floor(i / 250)}.${1 + (i % 250)}`;
}

interface Case {
  readonly n: number;
  readonly row: Row;
  readonly method: Method;
  readonly api: Api;
  readonly body: Body['kind'] | undefined;
}

const cases: Case[] = [];
for (const row of rows) {
  for (const method of row.methods ?? methods) {
    for (const body of method === 'GET' ? [undefined] : (row.bodies ?? ['replayable' as const])) {
      for (const api of apis) cases.push({ n: cases.length, row, method, api, body });
    }
  }
}

function describeSeen(seen: Seen): string {
  if (seen.kind === 'response')
    return `response ${seen.status} ${seen.text ?? `(body error: ${codesOf(seen.bodyError).join(' <- ')} ${String(seen.bodyError)})`} after ${Math.round(seen.ms)} ms`;
  const e = seen.error as Error & { code?: unknown; cause?: unknown };
  return `error ${e?.name}[${String(e?.code)}]: ${e?.message} <- ${String((e?.cause as Error | undefined)?.message)} after ${Math.round(seen.ms)} ms`;
}

async function runCase({ n, row, method, api, body: bodyKind }: Case): Promise<void> {
  const host = `c${n}.matrix.test`;
  const faultyIp = address(2 * n);
  const healthyIp = address(2 * n + 1);
  const servers: MatrixServer[] = [];
  const cleanups: (() => unknown)[] = [];
  try {
    let faulty: MatrixServer | undefined;
    if (row.faulty !== 'refused') {
      faulty = await startMatrixServer('faulty', faultyIp, PORT, row.faulty === 'blackhole' ? 'ok' : row.faulty);
      servers.push(faulty);
    }
    if (row.faulty === 'blackhole') {
      fw.drop(faultyIp);
      cleanups.push(() => fw.undrop(faultyIp));
    }
    let healthy: MatrixServer | undefined;
    if (row.other === 'ok') {
      healthy = await startMatrixServer('healthy', healthyIp, PORT, 'ok');
      servers.push(healthy);
    }
    dns.setRecords(host, { a: [faultyIp, healthyIp], ttl: 5 });
    cleanups.push(() => dns.removeRecords(host));

    const options: ResilienceOptions = {
      ...timeouts,
      ...row.timeouts,
      dns: { servers: [dns.server], search: [], hostsFile: false, family: 4, reResolveInterval: 0 },
    };
    const client = makeClient(api, options);
    cleanups.push(() => client.close());
    const url = `http://${host}:${PORT}/op`;
    for (let i = 0; i < (row.warmups ?? 0); i++) {
      const warm = await client.send({ url: `http://${host}:${PORT}/warmup`, method: 'GET' });
      expect(warm.kind === 'response' && warm.status === 200, `warm-up ${i + 1}: ${describeSeen(warm)}`).toBe(true);
    }
    if (row.warmups !== undefined) {
      // Each endpoint holds a kept-alive connection now, and the next request goes to the faulty one (the rotation's turn).
      const warm = (srv: MatrixServer | undefined): number => srv?.executions().filter((e) => e.url === '/warmup').length ?? 0;
      expect({ faulty: warm(faulty), healthy: warm(healthy) }, 'where the warm-ups went').toEqual({ faulty: 1, healthy: 1 });
    }
    const attemptsBefore = attemptsTo.get(faultyIp) ?? 0;

    const text = method === 'GET' ? '' : `${method} of case ${n}: `.padEnd(row.bodyBytes ?? 16 * 1024, `${n}.`);
    const headers = method === 'POST+key' ? { 'idempotency-key': `key-${n}` } : undefined;
    const body = bodyKind === undefined ? undefined : { kind: bodyKind, text };
    const seen = await client.send({ url, method: method === 'GET' ? 'GET' : 'POST', headers, body });
    const what = describeSeen(seen);
    if (process.env.FAULT_MATRIX_LOG) console.log(`${row.fault} | ${method} ${bodyKind ?? ''} | ${api} | ${what}`);
    const want = expected(row, method, api, bodyKind);

    // The fault was really hit: an attempt of this request went to the faulty endpoint.
    expect((attemptsTo.get(faultyIp) ?? 0) - attemptsBefore, `no attempt reached the faulty endpoint; ${what}`).toBeGreaterThanOrEqual(1);

    // Outcome.
    switch (want.result.outcome) {
      case 'healthy':
        expect(seen.kind === 'response' && seen.status === 200 && seen.text === 'healthy', what).toBe(true);
        break;
      case 'status':
        expect(seen.kind === 'response' && seen.status === (want.result as { status: number }).status, what).toBe(true);
        break;
      case 'body-timeout':
        expect(seen.kind === 'response' && seen.status === 200 && codesOf(seen.bodyError).includes('UND_ERR_BODY_TIMEOUT'), what).toBe(true);
        break;
      case 'give-up': {
        expect(seen.kind, what).toBe('error');
        const err = giveUpOf(api, (seen as { error: unknown }).error);
        expect(err, `not a typed give-up where ${api} puts it: ${what}`).toBeDefined();
        expect(err!.code, what).toBe(want.result.code);
        if (want.result.reasons !== undefined) expect(want.result.reasons, what).toContain((err as NotRetryableError).reason);
        expect(err!.attempts.length, what).toBeGreaterThanOrEqual(1);
        expect(err!.attempts[0]!.address, what).toBe(faultyIp);
        for (const a of err!.attempts) expect(a.code ?? a.status, what).toBeDefined();
        if (row.kind === 'outage') {
          // Refused again and again; the attempt the deadline cut short (if any) is recorded with the deadline's code.
          expect(err!.attempts.length, what).toBeGreaterThanOrEqual(2);
          for (const a of err!.attempts.slice(0, -1)) expect(a, what).toMatchObject({ code: 'ECONNREFUSED', maybeSent: false });
          expect(['ECONNREFUSED', 'RIDETHROUGH_DEADLINE_EXCEEDED'], what).toContain(err!.attempts.at(-1)!.code);
          expect(
            err!.attempts.every((a) => !a.maybeSent),
            what,
          ).toBe(true);
        }
        break;
      }
    }

    // Executions: exact, never two for a POST without key, bodies identical on every execution.
    const ran = servers.flatMap((s) => s.executions().filter((e) => e.url === '/op'));
    const at = (s: MatrixServer | undefined): number => s?.executions().filter((e) => e.url === '/op').length ?? 0;
    if (method === 'POST') expect(ran.length, what).toBeLessThanOrEqual(1);
    expect({ faulty: at(faulty), healthy: at(healthy) }, what).toEqual({ faulty: want.faulty, healthy: want.healthy });
    for (const e of ran) {
      expect(e.bodyHash, what).toBe(sha256(text));
      expect(e.idempotencyKey, what).toBe(headers?.['idempotency-key']);
    }

    // Time, against the configured timeouts.
    const [least, most] = want.result.outcome === 'healthy' ? (row.retriedBound ?? row.bound) : row.bound;
    expect(seen.ms, what).toBeGreaterThanOrEqual(least);
    expect(seen.ms, what).toBeLessThan(most);
  } finally {
    for (const fn of cleanups.reverse()) await fn();
    await Promise.all(servers.map((s) => s.stop()));
  }
}

function caseTests(row: Row): void {
  const skip = row.faulty === 'blackhole' && blackholeSkip !== undefined;
  for (const c of cases.filter((x) => x.row === row)) {
    it.skipIf(skip)(`${c.method}${c.body === 'stream' ? ' (stream body)' : ''} via ${c.api}`, () => runCase(c));
  }
}

describe.concurrent.each(rows.filter((r) => !r.alone))('$fault', caseTests);
describe.each(rows.filter((r) => r.alone))('$fault', caseTests);

describe('the timeouts hold what the docs say', () => {
  /** One endpoint, failing as `fault`; one attempt; returns what the caller saw. */
  async function single(
    n: number,
    fault: ServerFault | 'blackhole',
    api: Api,
    send: (client: ReturnType<typeof makeClient>, url: string) => Promise<Seen>,
  ): Promise<Seen> {
    const host = `t${n}.matrix.test`;
    const ip = address(2 * (cases.length + n));
    const server = await startMatrixServer('single', ip, PORT, fault === 'blackhole' ? 'ok' : fault);
    const client = makeClient(api, { ...timeouts, maxAttempts: 1, dns: { servers: [dns.server], search: [], hostsFile: false, family: 4 } });
    try {
      if (fault === 'blackhole') fw.drop(ip);
      dns.setRecords(host, { a: [ip], ttl: 5 });
      return await send(client, `http://${host}:${PORT}/op`);
    } finally {
      fw.undrop(ip);
      dns.removeRecords(host);
      await client.close();
      await server.stop();
    }
  }

  it.skipIf(blackholeSkip !== undefined)(
    "connectTimeout: a blackholed connect is given up after connectTimeout (a timer of ridethrough, not undici's coarse one)",
    async () => {
      const seen = await single(0, 'blackhole', 'request', (c, url) => c.send({ url, method: 'GET' }));
      expect(seen.kind).toBe('error');
      const err = giveUpOf('request', (seen as { error: unknown }).error);
      expect(err?.attempts).toHaveLength(1);
      const attempt = err!.attempts[0]!;
      expect(attempt.code).toBe('UND_ERR_CONNECT_TIMEOUT');
      expect(attempt.durationMs).toBeGreaterThanOrEqual(T.connectTimeout * 0.9);
      expect(attempt.durationMs).toBeLessThan(T.connectTimeout + 150);
    },
  );

  // bodyTimeout is ridethrough's own timer (issue #16, bug 3): undici's coarse one fired 530–1010 ms after a
  // stall with a bodyTimeout of 300.
  it.each(apis)('bodyTimeout: a body stalled after the headers fails after bodyTimeout, not seconds later (%s)', async (api) => {
    const seen = await single(1 + apis.indexOf(api), 'stall-body', api, (c, url) => c.send({ url, method: 'GET' }));
    expect(seen.kind === 'response' && codesOf(seen.bodyError).includes('UND_ERR_BODY_TIMEOUT'), describeSeen(seen)).toBe(true);
    expect(seen.ms).toBeGreaterThanOrEqual(T.bodyTimeout * 0.9);
    expect(seen.ms).toBeLessThan(T.bodyTimeout + 150);
  });
});
