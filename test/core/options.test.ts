/**
 * Option validation: a wrong type is a TypeError, a value out of range a RangeError, and the message
 * names the option and what is allowed. Covers agent/interceptor/fetch options, per-request
 * `ridethrough` overrides on every path, and `agent.with()`.
 * No traffic: every request here fails validation before anything is resolved or sent.
 */
import { Agent, request } from 'undici';
import { afterEach, describe, expect, it } from 'vitest';
import { ResilientAgent, type ResilienceOptions, createResilientFetch, resilience } from '../../src/index.js';
import { type ErrorClass, expectThrow } from '../support/expect-throw.js';

/** A DNS server address in this file's range with nothing behind it: nothing here may reach it. */
const dnsOptions = { servers: ['127.0.28.53:53'], search: [], hostsFile: false as const };
const agents: { close(): Promise<void> }[] = [];

afterEach(async () => {
  for (const a of agents.splice(0)) await a.close();
});

/** Awaits `p` and checks it rejects with `Class` (exactly) with a message matching every pattern. */
async function expectReject(p: Promise<unknown>, Class: ErrorClass, ...patterns: RegExp[]): Promise<void> {
  let caught: unknown;
  try {
    await p;
  } catch (err) {
    caught = err;
  }
  expect(caught, 'expected a rejection').toBeInstanceOf(Class);
  expect((caught as Error).constructor).toBe(Class);
  for (const p2 of patterns) expect((caught as Error).message).toMatch(p2);
}

function construct(options: unknown): void {
  const agent = new ResilientAgent(options as ResilienceOptions);
  agents.push(agent);
}

/** `{ a: { b: value } }` for path `a.b`, merged over `base`. */
function withPath(path: string, value: unknown, base: Record<string, unknown> = {}): Record<string, unknown> {
  const [head, tail] = path.split('.') as [string, string | undefined];
  if (tail === undefined) return { ...base, [head]: value };
  return { ...base, [head]: { ...(base[head] as Record<string, unknown> | undefined), [tail]: value } };
}

/** Fills `dns` so no agent would ever talk to the machine's resolver. */
function safe(options: Record<string, unknown>): Record<string, unknown> {
  return { ...options, dns: { ...dnsOptions, ...(options.dns as Record<string, unknown> | undefined) } };
}

const esc = (s: string): string => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

interface NumberOption {
  readonly path: string;
  readonly min: number;
  readonly max: number;
  readonly integer?: boolean;
  /** Other options needed for the boundary values to be valid together. */
  readonly with?: Record<string, unknown>;
}

const numberOptions: NumberOption[] = [
  { path: 'deadline', min: 1, max: 3_600_000 },
  { path: 'maxAttempts', min: 1, max: 1000, integer: true },
  { path: 'connectTimeout', min: 1, max: 600_000 },
  { path: 'attemptTimeout', min: 1, max: 3_600_000 },
  { path: 'bodyTimeout', min: 0, max: 3_600_000 },
  { path: 'maxRetryAfter', min: 0, max: 3_600_000 },
  { path: 'keepAliveTimeout', min: 1, max: 600_000 },
  { path: 'connectionsPerEndpoint', min: 1, max: 65_535, integer: true },
  { path: 'maxConnectionAge', min: 0, max: 86_400_000 },
  { path: 'backoff.initialDelay', min: 1, max: 60_000, with: { backoff: { maxDelay: 60_000 } } },
  { path: 'backoff.maxDelay', min: 1, max: 60_000, with: { backoff: { initialDelay: 1 } } },
  { path: 'ejection.baseTime', min: 100, max: 3_600_000, with: { ejection: { maxTime: 3_600_000 } } },
  { path: 'ejection.maxTime', min: 100, max: 3_600_000, with: { ejection: { baseTime: 100 } } },
  { path: 'ejection.maxPercent', min: 0, max: 100 },
  { path: 'ejection.consecutiveFailures', min: 1, max: 1000, integer: true },
  { path: 'budget.ratio', min: 0, max: 10 },
  { path: 'budget.minPerSecond', min: 0, max: 10_000 },
  { path: 'budget.window', min: 1_000, max: 600_000 },
  { path: 'breaker.threshold', min: 1, max: 1000, integer: true },
  { path: 'breaker.threshold', min: 0.01, max: 1, with: { breaker: { mode: 'sampling' } } },
  { path: 'breaker.duration', min: 1_000, max: 600_000 },
  { path: 'breaker.minimumRps', min: 0, max: 100_000 },
  { path: 'breaker.halfOpenAfter', min: 100, max: 600_000 },
  { path: 'hedge.delay', min: 1, max: 600_000 },
  { path: 'hedge.percentile', min: 50, max: 99.9 },
  { path: 'hedge.minDelay', min: 0, max: 600_000 },
  { path: 'hedge.maxHedges', min: 1, max: 5, integer: true },
  { path: 'dns.maxTtl', min: 0, max: 86_400_000, with: { dns: { minTtl: 0 } } },
  { path: 'dns.minTtl', min: 0, max: 86_400_000, with: { dns: { maxTtl: 86_400_000 } } },
  { path: 'dns.staleTtl', min: 0, max: 86_400_000 },
  { path: 'dns.negativeTtl', min: 0, max: 86_400_000 },
  { path: 'dns.reResolveInterval', min: 0, max: 60_000 },
  { path: 'dns.timeout', min: 1, max: 60_000 },
  { path: 'dns.tries', min: 1, max: 10, integer: true },
  { path: 'dns.maxHosts', min: 1, max: 1_000_000, integer: true },
  { path: 'dns.ndots', min: 0, max: 15, integer: true },
];

describe('numeric options', () => {
  for (const o of numberOptions) {
    const label = `${o.path}${o.with ? ` (with ${JSON.stringify(o.with)})` : ''}`;
    const name = new RegExp(`"${esc(o.path)}"`);
    const range = new RegExp(`from ${esc(String(o.min))} to ${esc(String(o.max))}`);
    const opts = (v: unknown): Record<string, unknown> => safe(withPath(o.path, v, o.with ?? {}));

    it(`${label}: accepts ${o.min} and ${o.max}`, () => {
      construct(opts(o.min));
      construct(opts(o.max));
    });

    it(`${label}: TypeError for a string, NaN, null or a boolean`, () => {
      for (const bad of [String(o.min), Number.NaN, null, true]) expectThrow(() => construct(opts(bad)), TypeError, name, range);
    });

    it(`${label}: RangeError below ${o.min} and above ${o.max}${o.integer ? ', and for a fraction' : ''}`, () => {
      const below = o.min === 0 ? -1 : o.min >= 1 ? o.min - 1 : o.min / 2;
      const bad = [below, o.max + 1, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY];
      if (o.integer) bad.push(o.min + 0.5);
      for (const v of bad) expectThrow(() => construct(opts(v)), RangeError, name, range);
    });
  }

  it('maxConnectionAge: 1–999 is a RangeError (0 means never, else at least 1000)', () => {
    expectThrow(() => construct(safe({ maxConnectionAge: 500 })), RangeError, /"maxConnectionAge"/, /0 \(never\) or from 1000 to 86400000/);
    construct(safe({ maxConnectionAge: 1_000 }));
  });
});

describe('options that relate to each other', () => {
  it('backoff.maxDelay below backoff.initialDelay is a RangeError naming backoff.maxDelay', () => {
    expectThrow(
      () => construct(safe({ backoff: { initialDelay: 500, maxDelay: 100 } })),
      RangeError,
      /"backoff\.maxDelay"/,
      /at least backoff\.initialDelay \(500\)/,
    );
    // The default maxDelay (1000) is below an initialDelay of 2000.
    expectThrow(() => construct(safe({ backoff: { initialDelay: 2_000 } })), RangeError, /"backoff\.maxDelay"/);
  });

  it('ejection.maxTime below ejection.baseTime is a RangeError naming ejection.maxTime', () => {
    expectThrow(
      () => construct(safe({ ejection: { baseTime: 5_000, maxTime: 1_000 } })),
      RangeError,
      /"ejection\.maxTime"/,
      /at least ejection\.baseTime \(5000\)/,
    );
  });

  it('dns.minTtl above dns.maxTtl is a RangeError naming dns.minTtl', () => {
    expectThrow(() => construct(safe({ dns: { minTtl: 2_000, maxTtl: 1_000 } })), RangeError, /"dns\.minTtl"/, /at most dns\.maxTtl \(1000\)/);
  });
});

describe('enumerated options', () => {
  const enums: { path: string; allowed: readonly (string | number)[]; wrongType: unknown; unlisted: unknown }[] = [
    { path: 'backoff.jitter', allowed: ['full', 'decorrelated'], wrongType: 1, unlisted: 'equal' },
    { path: 'balancer', allowed: ['p2c', 'round-robin'], wrongType: true, unlisted: 'random' },
    { path: 'breaker.mode', allowed: ['consecutive', 'sampling'], wrongType: 0, unlisted: 'count' },
    { path: 'dns.family', allowed: [0, 4, 6], wrongType: '4', unlisted: 5 },
  ];
  for (const e of enums) {
    const name = new RegExp(`"${esc(e.path)}"`);
    const listed = new RegExp(esc(e.allowed.map((a) => JSON.stringify(a)).join(', ')));
    it(`${e.path}: accepts ${e.allowed.join(', ')}; TypeError for another type; RangeError for an unlisted value`, () => {
      for (const v of e.allowed) construct(safe(withPath(e.path, v)));
      expectThrow(() => construct(safe(withPath(e.path, e.wrongType))), TypeError, name, listed);
      expectThrow(() => construct(safe(withPath(e.path, e.unlisted))), RangeError, name, listed);
    });
  }
});

describe('object, array and string options', () => {
  it('option groups must be objects (TypeError naming the group)', () => {
    for (const group of ['backoff', 'ejection', 'dns', 'tls', 'breaker', 'budget', 'hedge']) {
      for (const bad of ['x', 5, null, [1], true]) {
        // `false` turns breaker/budget/hedge off; `true` is not an object.
        expectThrow(() => construct(group === 'dns' ? { dns: bad } : safe({ [group]: bad })), TypeError, new RegExp(`"${group}"`), /must be an object/);
      }
    }
    construct(safe({ breaker: false, budget: false, hedge: false }));
  });

  it('the options themselves must be an object', () => {
    for (const bad of [null, 'fast', 5, [1]]) expectThrow(() => construct(bad), TypeError, /"options"/);
  });

  it('statusCodes: TypeError unless an array of numbers; RangeError for a status outside 400–599 or a fraction', () => {
    construct(safe({ statusCodes: [] }));
    construct(safe({ statusCodes: [400, 429, 599] }));
    for (const bad of ['503', 503, ['503'], [null], [Number.NaN], { 0: 503 }]) {
      expectThrow(() => construct(safe({ statusCodes: bad })), TypeError, /"statusCodes"/, /from 400 to 599/);
    }
    for (const bad of [[399], [600], [200, 503], [503.5], [-1]]) {
      expectThrow(() => construct(safe({ statusCodes: bad })), RangeError, /"statusCodes"/, /from 400 to 599/);
    }
  });

  it('dns.servers: TypeError unless an array of IP[:port] strings', () => {
    construct({ dns: { ...dnsOptions, servers: ['127.0.28.53', '127.0.28.53:5353', '[::1]:53', '::1'] } });
    for (const bad of ['127.0.0.1', [53], ['dns.example'], ['127.0.0.1:99999'], [null]]) {
      expectThrow(() => construct({ dns: { ...dnsOptions, servers: bad } }), TypeError, /"dns\.servers"/, /IP addresses/);
    }
  });

  it('dns.search: TypeError unless an array of non-empty strings', () => {
    construct(safe({ dns: { search: ['svc.cluster.local'] } }));
    for (const bad of ['cluster.local', [''], [5]]) expectThrow(() => construct(safe({ dns: { search: bad } })), TypeError, /"dns\.search"/);
  });

  it('dns.resolvConf and dns.hostsFile: TypeError unless a path string (hostsFile may be false)', () => {
    expectThrow(() => construct(safe({ dns: { resolvConf: 5 } })), TypeError, /"dns\.resolvConf"/);
    expectThrow(() => construct(safe({ dns: { hostsFile: true } })), TypeError, /"dns\.hostsFile"/);
    construct(safe({ dns: { hostsFile: '/etc/hosts' } }));
  });
});

describe('unknown keys (typos) are rejected', () => {
  const cases: [Record<string, unknown>, RegExp][] = [
    [{ deadlin: 5_000 }, /unknown option "deadlin"/],
    [{ retries: 3 }, /unknown option "retries"/],
    [{ backoff: { bas: 10 } }, /unknown option "backoff\.bas"/],
    [{ ejection: { time: 10 } }, /unknown option "ejection\.time"/],
    [{ dns: { server: ['127.0.28.53'] } }, /unknown option "dns\.server"/],
    [{ breaker: { treshold: 3 } }, /unknown option "breaker\.treshold"/],
    [{ budget: { percent: 20 } }, /unknown option "budget\.percent"/],
    [{ hedge: { after: 50 } }, /unknown option "hedge\.after"/],
  ];
  for (const [options, message] of cases) {
    it(`${JSON.stringify(options)}: TypeError ${message}`, () => {
      expectThrow(
        () => construct(options.dns ? { ...options, dns: { ...dnsOptions, ...(options.dns as object) } } : safe(options)),
        TypeError,
        message,
        /known options are/,
      );
    });
  }
});

describe('every entry point validates its options', () => {
  it('resilience() (the interceptor) throws at once', () => {
    expectThrow(() => resilience({ deadline: 0 }), RangeError, /"deadline"/, /from 1 to 3600000/);
    expectThrow(() => resilience({ maxAttempts: '3' } as unknown as ResilienceOptions), TypeError, /"maxAttempts"/);
    expectThrow(() => resilience({ deadlines: 1 } as unknown as ResilienceOptions), TypeError, /unknown option "deadlines"/);
  });

  it('createResilientFetch() throws at once', () => {
    expectThrow(() => createResilientFetch({ deadline: -5 }), RangeError, /"deadline"/);
    expectThrow(() => createResilientFetch({ dns: { ...dnsOptions, timeout: 0 } }), RangeError, /"dns\.timeout"/, /from 1 to 60000/);
  });
});

describe('per-request overrides', () => {
  const bad: { overrides: unknown; Class: ErrorClass; message: RegExp[] }[] = [
    { overrides: 'fast', Class: TypeError, message: [/"ridethrough"/, /must be an object/] },
    { overrides: { deadline: 0 }, Class: RangeError, message: [/"ridethrough\.deadline"/, /from 1 to 3600000/] },
    { overrides: { deadline: '1000' }, Class: TypeError, message: [/"ridethrough\.deadline"/, /from 1 to 3600000/] },
    { overrides: { maxAttempts: 1.5 }, Class: RangeError, message: [/"ridethrough\.maxAttempts"/, /an integer from 1 to 1000/] },
    { overrides: { maxAttempts: 1001 }, Class: RangeError, message: [/"ridethrough\.maxAttempts"/] },
    { overrides: { attemptTimeout: Number.NaN }, Class: TypeError, message: [/"ridethrough\.attemptTimeout"/] },
    { overrides: { attemptTimeout: 3_600_001 }, Class: RangeError, message: [/"ridethrough\.attemptTimeout"/, /from 1 to 3600000/] },
    { overrides: { idempotent: 'yes' }, Class: TypeError, message: [/"ridethrough\.idempotent"/, /boolean/] },
    { overrides: { hedge: { delay: 0 } }, Class: RangeError, message: [/"ridethrough\.hedge\.delay"/] },
    { overrides: { hedge: 'on' }, Class: TypeError, message: [/"ridethrough\.hedge"/] },
    { overrides: { retries: 2 }, Class: TypeError, message: [/unknown option "ridethrough\.retries"/] },
  ];
  const url = 'http://options.rt.test:18082/';

  it('agent.with() throws at once', () => {
    const agent = new ResilientAgent({ dns: dnsOptions });
    agents.push(agent);
    for (const b of bad) expectThrow(() => agent.with(b.overrides as never), b.Class, ...b.message);
    // Valid overrides give a dispatcher.
    const view = agent.with({ deadline: 1_000, maxAttempts: 2, attemptTimeout: 500, idempotent: true, hedge: false });
    expect(typeof view.dispatch).toBe('function');
  });

  it('undici request() through the agent rejects', async () => {
    const agent = new ResilientAgent({ dns: dnsOptions });
    agents.push(agent);
    for (const b of bad) {
      await expectReject(request(url, { dispatcher: agent, ridethrough: b.overrides } as Parameters<typeof request>[1]), b.Class, ...b.message);
    }
  });

  it('undici request() through an Agent composed with resilience() rejects', async () => {
    const dispatcher = new Agent().compose(resilience({ dns: dnsOptions }));
    agents.push(dispatcher);
    for (const b of bad) {
      await expectReject(request(url, { dispatcher, ridethrough: b.overrides } as Parameters<typeof request>[1]), b.Class, ...b.message);
    }
  });

  it('resilientFetch rejects', async () => {
    const agent = new ResilientAgent({ dns: dnsOptions });
    agents.push(agent);
    const fetch = createResilientFetch({ agent });
    for (const b of bad) {
      await expectReject(fetch(url, { ridethrough: b.overrides as never }), b.Class, ...b.message);
    }
  });
});

describe('fractional durations within their documented ranges', () => {
  it("bodyTimeout, which undici takes in whole milliseconds, rejects a fraction at construction with undici's error naming it", () => {
    expect(() => new ResilientAgent({ bodyTimeout: 1234.5 })).toThrow(/bodyTimeout must be a positive integer/);
  });

  it('the other durations work for a real request', async () => {
    const { createServer } = await import('node:http');
    const server = createServer((_req, res) => res.end('ok'));
    await new Promise<void>((resolve) => server.listen(0, '127.0.49.1', resolve));
    const { port } = server.address() as { port: number };
    const agent = new ResilientAgent({
      connectTimeout: 500.5,
      attemptTimeout: 999.9,
      deadline: 2000.5,
      maxConnectionAge: 1000.5,
      maxRetryAfter: 10.5,
      keepAliveTimeout: 100.2,
    });
    try {
      const res = await request(`http://127.0.49.1:${port}/`, { dispatcher: agent });
      expect(res.statusCode).toBe(200);
      expect(await res.body.text()).toBe('ok');
    } finally {
      await agent.close();
      server.close();
    }
  });
});
