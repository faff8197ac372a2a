/**
 * The option space of ridethrough's public constructors, written from docs/configuration.md (and, where
 * the docs give no range, the types in src/), as fast-check generators that know the answer: each
 * generated options object comes with the paths in it that break a documented rule (`bad`), and the
 * paths whose values the docs leave open (`open`: a fraction where an integer is expected may be
 * rounded or refused). An object with no bad path must construct; one with bad paths must be refused
 * naming one of them.
 *
 * Two modes: `any` mixes valid values (boundaries included), invalid ones (wrong types, NaN, ±Infinity,
 * out of range, fractions for integers, unknown keys, a wrong type for a nested object) and `false` for
 * features that may be off; `sane` gives only values under which one request to a healthy loopback pod
 * must succeed (no 1 ms deadline), with `dns` pointed at the test's server.
 */
import fc from 'fast-check';

/** A generated value and what the docs say of it. */
export interface Gen {
  readonly value: unknown;
  /** Paths that break a documented rule: construction must fail naming one. */
  readonly bad: readonly string[];
  /** Paths the docs leave open (rounded or refused): construction may fail naming one, or must work. */
  readonly open: readonly string[];
}

export type Mode = 'any' | 'sane';

interface Leaf {
  readonly kind: 'leaf';
  readonly valid: fc.Arbitrary<unknown>;
  readonly sane?: fc.Arbitrary<unknown>;
  readonly invalid: fc.Arbitrary<unknown>;
  readonly open?: fc.Arbitrary<unknown>;
}

/** An options object: its fields, whether it may be `false`, and the rules between its fields. */
export interface Group {
  readonly kind: 'group';
  readonly fields: Readonly<Record<string, Spec>>;
  readonly off?: boolean;
  /** Keys always present, and keys present in `sane` mode (`dns`, so no request reaches the machine's resolver). */
  readonly required?: { readonly always?: readonly string[]; readonly sane?: readonly string[] };
  /** Misspelt or renamed keys to slip in. */
  readonly unknown?: readonly string[];
  /** Paths broken by a rule between fields (given the fields' own values were valid). */
  readonly relation?: (value: Readonly<Record<string, unknown>>, path: (key: string) => string) => string[];
}

export type Spec = Leaf | Group;

const join = (prefix: string, key: string): string => (prefix ? `${prefix}.${key}` : key);

/** Values of the wrong type for anything numeric. */
const notANumber = fc.constantFrom<unknown>(null, 'abc', '100', true, [], {}, Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY);

/** A number option from `min` to `max`; `sane` narrows what a working request gets. */
export function num(min: number, max: number, o: { integer?: boolean; sane?: readonly [number, number] } = {}): Leaf {
  const range = (lo: number, hi: number): fc.Arbitrary<unknown> =>
    o.integer
      ? fc.oneof(fc.constant(lo), fc.constant(hi), fc.integer({ min: Math.ceil(lo), max: Math.floor(hi) }))
      : fc.oneof(fc.constant(lo), fc.constant(hi), fc.integer({ min: Math.ceil(lo), max: Math.floor(hi) }), fc.double({ min: lo, max: hi, noNaN: true }));
  const outside: number[] = [min - 1, max + 1, max * 10, -max];
  if (min > 0) outside.push(min / 2);
  return {
    kind: 'leaf',
    valid: range(min, max),
    sane: o.sane ? range(...o.sane) : undefined,
    invalid: fc.oneof(notANumber, fc.constantFrom(...outside.filter((v) => v < min || v > max))),
    // A fraction where an integer is documented: rounded or refused, never a failure later.
    open: o.integer && min + 0.5 <= max ? fc.constantFrom(min + 0.5, Math.floor((min + max) / 2) + 0.25) : undefined,
  };
}

/** One of `values` (a string for `balancer`, a number for `dns.family`, ...). */
export function oneOf<T>(values: readonly T[], sane: readonly T[] = values): Leaf {
  return { kind: 'leaf', valid: fc.constantFrom(...values), sane: fc.constantFrom(...sane), invalid: fc.constantFrom<unknown>('other', 1, null, true, []) };
}

/** Any other option: explicit valid, sane and invalid values. */
export function leaf(valid: fc.Arbitrary<unknown>, invalid: fc.Arbitrary<unknown>, sane?: fc.Arbitrary<unknown>): Leaf {
  return { kind: 'leaf', valid, invalid, sane };
}

export const bool = leaf(fc.boolean(), fc.constantFrom<unknown>('yes', 1, 0, null, []));

export function group(fields: Record<string, Spec>, o: Omit<Group, 'kind' | 'fields'> = {}): Group {
  return { kind: 'group', fields, ...o };
}

/** Most optional keys set in one generated object (per nesting level). */
const maxKeys = 5;

/** The generator of `spec` at `path`. */
export function generate(spec: Spec, path: string, mode: Mode): fc.Arbitrary<Gen> {
  if (spec.kind === 'leaf') {
    if (mode === 'sane') {
      const sane = spec.sane ?? spec.valid;
      return spec.open
        ? fc.oneof(
            { arbitrary: sane.map((value) => ({ value, bad: [], open: [] })), weight: 5 },
            { arbitrary: spec.open.map((value) => ({ value, bad: [], open: [path] })), weight: 1 },
          )
        : sane.map((value) => ({ value, bad: [], open: [] }));
    }
    return fc.oneof(
      { arbitrary: spec.valid.map((value): Gen => ({ value, bad: [], open: [] })), weight: 6 },
      { arbitrary: spec.invalid.map((value): Gen => ({ value, bad: [path], open: [] })), weight: 1 },
      ...(spec.open ? [{ arbitrary: spec.open.map((value): Gen => ({ value, bad: [], open: [path] })), weight: 1 }] : []),
    );
  }
  const keys = Object.keys(spec.fields);
  const required = [...(spec.required?.always ?? []), ...(mode === 'sane' ? (spec.required?.sane ?? []) : [])];
  const optional = keys.filter((k) => !required.includes(k));
  // A few keys at a time, so that objects with nothing wrong are common too.
  const chosen = fc.subarray(optional, { maxLength: Math.min(maxKeys, optional.length) }).map((some) => [...required, ...some]);
  const unknown =
    mode === 'any' && spec.unknown
      ? fc.oneof({ arbitrary: fc.constant(null), weight: 12 }, { arbitrary: fc.constantFrom(...spec.unknown), weight: 1 })
      : fc.constant(null);
  const fields = chosen.chain((ks) => fc.tuple(...ks.map((k) => generate(spec.fields[k]!, join(path, k), mode).map((g) => [k, g] as const))));
  const object = fc.tuple(fields, unknown).map(([entries, extra]): Gen => {
    const value: Record<string, unknown> = {};
    const bad: string[] = [];
    const open: string[] = [];
    for (const [k, g] of entries) {
      value[k] = g.value;
      bad.push(...g.bad);
      open.push(...g.open);
    }
    if (spec.relation) bad.push(...spec.relation(value, (k) => (bad.includes(join(path, k)) ? '' : join(path, k))).filter((p) => p !== ''));
    if (extra !== null) {
      value[extra] = 1;
      bad.push(join(path, extra));
    }
    return { value, bad, open };
  });
  const alternatives: fc.WeightedArbitrary<Gen>[] = [{ arbitrary: object, weight: 8 }];
  if (spec.off) alternatives.push({ arbitrary: fc.constant({ value: false, bad: [], open: [] }), weight: 1 });
  if (mode === 'any' && path !== '')
    alternatives.push({ arbitrary: fc.constantFrom<unknown>('x', 1, null, [], true).map((value) => ({ value, bad: [path], open: [] })), weight: 1 });
  return fc.oneof(...alternatives);
}

/** `a` must be at least `b`, each taken with its default when not given (and not already bad). */
function atLeast(a: string, b: string, defaults: Readonly<Record<string, number>>) {
  return (v: Readonly<Record<string, unknown>>, path: (key: string) => string): string[] => {
    const x = v[a] ?? defaults[a];
    const y = v[b] ?? defaults[b];
    if (typeof x !== 'number' || typeof y !== 'number' || path(a) === '' || path(b) === '') return [];
    // The message may name either side of the rule.
    return x < y ? [path(a), path(b)] : [];
  };
}

const day = 86_400_000;

/** The `dns` options; `server` is what a working request resolves through. */
export function dnsSpec(server: string): Group {
  return group(
    {
      servers: leaf(
        fc.array(fc.constantFrom('127.0.0.1', '127.0.0.1:53', '::1', '[::1]:5353'), { minLength: 1, maxLength: 2 }),
        fc.constantFrom<unknown>(['localhost'], ['127.0.0.1:0'], ['127.0.0.1:70000'], [42], 'x', null, ['']),
        fc.constant([server]),
      ),
      maxTtl: num(0, day),
      minTtl: num(0, day),
      staleTtl: num(0, day),
      negativeTtl: num(0, day),
      reResolveInterval: num(0, 60_000),
      // "1–60000 (rounded to whole ms)": fractions are valid; a working request needs a query timeout loopback can meet.
      timeout: num(1, 60_000, { sane: [100, 60_000] }),
      tries: num(1, 10, { integer: true }),
      family: oneOf([0, 4, 6], [0, 4]),
      maxHosts: leaf(fc.oneof(fc.constant(1_000_000), fc.integer({ min: 1, max: 1_000_000 })), fc.oneof(notANumber, fc.constantFrom(0, 1_000_001, 1e9, 2.5))),
      search: leaf(
        fc.array(fc.constantFrom('svc.cluster.local', 'example.test'), { maxLength: 2 }),
        fc.constantFrom<unknown>([''], [1], 'svc', null),
        fc.constant([]),
      ),
      ndots: num(0, 15, { integer: true }),
      resolvConf: leaf(fc.constant('/etc/resolv.conf'), fc.constantFrom<unknown>(42, null, [])),
      hostsFile: leaf(fc.constantFrom<unknown>(false, '/etc/hosts'), fc.constantFrom<unknown>(true, 42, null), fc.constant(false)),
    },
    {
      required: { sane: ['servers', 'search', 'hostsFile'] },
      unknown: ['maxhosts', 'ttl', 'server'],
      relation: (v, path) => atLeast('maxTtl', 'minTtl', { maxTtl: 5_000, minTtl: 500 })(v, path),
    },
  );
}

export const backoffSpec = group(
  { jitter: oneOf(['full', 'decorrelated']), initialDelay: num(1, 60_000), maxDelay: num(1, 60_000) },
  { unknown: ['base', 'cap'], relation: atLeast('maxDelay', 'initialDelay', { initialDelay: 25, maxDelay: 1_000 }) },
);

export const ejectionSpec = group(
  { baseTime: num(100, 3_600_000), maxTime: num(100, 3_600_000), maxPercent: num(0, 100), consecutiveFailures: num(1, 1_000, { integer: true }) },
  { unknown: ['base'], relation: atLeast('maxTime', 'baseTime', { baseTime: 10_000, maxTime: 120_000 }) },
);

export const hedgeSpec = group(
  { delay: num(1, 600_000), percentile: num(50, 99.9), minDelay: num(0, 600_000), maxHedges: num(1, 5, { integer: true }) },
  { off: true, unknown: ['after'] },
);

const breakerSpec = group(
  {
    mode: oneOf(['consecutive', 'sampling']),
    // A ratio when sampling, a count of requests otherwise (checked by the relation below).
    threshold: leaf(
      fc.oneof(fc.constantFrom(0.01, 1, 1_000), fc.double({ min: 0.01, max: 1, noNaN: true }), fc.integer({ min: 1, max: 1_000 })),
      fc.oneof(notANumber, fc.constantFrom(0, -1, 1_001)),
    ),
    duration: num(1_000, 600_000),
    minimumRps: num(0, 100_000),
    halfOpenAfter: num(100, 600_000),
  },
  {
    off: true,
    unknown: ['failures'],
    relation: (v, path) => {
      const t = v.threshold;
      if (typeof t !== 'number' || path('threshold') === '') return [];
      const ok = v.mode === 'sampling' ? t >= 0.01 && t <= 1 : Number.isInteger(t) && t >= 1 && t <= 1_000;
      return ok ? [] : [path('threshold')];
    },
  },
);

/** `ResilienceOptions`: `ResilientAgent`, `createResilientFetch` and `resilience()`. */
export function resilienceFields(server: string): Record<string, Spec> {
  return {
    deadline: num(1, 3_600_000, { sane: [1_000, 3_600_000] }),
    maxAttempts: num(1, 1_000, { integer: true }),
    connectTimeout: num(1, 600_000, { sane: [200, 600_000] }),
    attemptTimeout: num(1, 3_600_000, { sane: [500, 3_600_000] }),
    // Fractions left out: how they are treated differs by API (a BUG, see "bodyTimeout 1234.5" in fuzz.test.ts).
    bodyTimeout: { ...num(0, 3_600_000, { integer: true }), open: undefined, sane: fc.oneof(fc.constant(0), fc.integer({ min: 500, max: 3_600_000 })) },
    backoff: backoffSpec,
    statusCodes: leaf(
      fc.array(fc.integer({ min: 400, max: 599 }), { maxLength: 4 }),
      fc.constantFrom<unknown>([399], [600], [502.5], ['503'], [Number.NaN], '503', null, 503),
    ),
    maxRetryAfter: num(0, 3_600_000),
    dns: dnsSpec(server),
    ejection: ejectionSpec,
    keepAliveTimeout: num(1, 600_000),
    connectionsPerEndpoint: num(1, 65_535, { integer: true }),
    tls: leaf(fc.constant({}), fc.constantFrom<unknown>('tls', 1, null, [])),
    breaker: breakerSpec,
    budget: group({ ratio: num(0, 10), minPerSecond: num(0, 10_000), window: num(1_000, 600_000) }, { off: true, unknown: ['percent'] }),
    hedge: hedgeSpec,
    balancer: oneOf(['p2c', 'round-robin']),
    maxConnectionAge: leaf(
      fc.oneof(fc.constantFrom(0, 1_000, day), fc.integer({ min: 1_000, max: day })),
      fc.oneof(notANumber, fc.constantFrom(1, 999, 500.5, -1, day + 1)),
    ),
    reResolveWhileWaiting: num(10, 10_000),
    silentEndpoint: group({ after: num(10, 600_000), latencyMultiple: num(1, 100) }, { off: true, unknown: ['threshold'] }),
  };
}

/**
 * undici's own Agent options that overlap none of ridethrough's: refused with undici's
 * `InvalidArgumentError`. undici's Agent clones its options through JSON, so NaN and ±Infinity are no
 * value at all for the pool options (docs/compatibility.md: "`headersTimeout: NaN` is no value in both").
 */
const noValue = fc.constantFrom<unknown>(null, Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY);
export const undiciFields: Record<string, Spec> = {
  keepAliveMaxTimeout: leaf(fc.oneof(fc.integer({ min: 1, max: 600_000 }), noValue), fc.constantFrom<unknown>(0, -1, 'x', true)),
  maxHeaderSize: leaf(fc.oneof(fc.integer({ min: 1_024, max: 65_536 }), noValue), fc.constantFrom<unknown>(0, 1.5, -1, 'x')),
  maxOrigins: leaf(fc.oneof(fc.integer({ min: 1, max: 1_000 }), fc.constant(Number.POSITIVE_INFINITY)), fc.constantFrom<unknown>(0, -1, Number.NaN, 'x', null)),
};

/** Unknown top-level keys: old names (issue #16 renamed them) and typos. */
const unknownTop = ['retryStatuses', 'deadLine', 'timeout', 'retries'];

/** `new ResilientAgent(opts)` and `createResilientFetch(opts)`: ridethrough's options and undici's. */
export const agentSpace = (server: string): Group =>
  group({ ...resilienceFields(server), ...undiciFields }, { unknown: unknownTop, required: { sane: ['dns'] } });

/** `resilience(opts)`: ridethrough's options only (an undici key is an unknown one). */
export const interceptorSpace = (server: string): Group =>
  group(resilienceFields(server), { unknown: [...unknownTop, 'keepAliveMaxTimeout', 'connections'], required: { sane: ['dns'] } });

/** `createResilientLookup(opts)`: the context settings. */
export const lookupSpace = (server: string): Group =>
  group({ dns: dnsSpec(server), ejection: ejectionSpec, backoff: backoffSpec }, { unknown: ['deadline', 'connectTimeout'], required: { sane: ['dns'] } });

/** `resilientConnect({ host, port, ...opts })`. */
export const connectSpace = (server: string, host: string, port: number): Group =>
  group(
    {
      host: leaf(fc.constant(host), fc.constantFrom<unknown>('', 42, null)),
      port: { ...num(1, 65_535, { integer: true }), sane: fc.constant(port) },
      tls: leaf(fc.constant(false), fc.constantFrom<unknown>('tls', 1, null, { host: 'elsewhere' }, { lookup: () => {} })),
      connectTimeout: num(1, 600_000, { sane: [200, 600_000] }),
      deadline: num(1, 3_600_000, { sane: [1_000, 3_600_000] }),
      maxAttempts: num(1, 1_000, { integer: true }),
      noDelay: bool,
      keepAlive: bool,
      keepAliveInitialDelay: num(0, 2_147_483_647),
      dns: dnsSpec(server),
      ejection: ejectionSpec,
      backoff: backoffSpec,
    },
    { unknown: ['hostname', 'timeout'], required: { always: ['host', 'port'], sane: ['dns'] } },
  );

/** Per-request overrides: `ridethrough: {...}` in request options, or `agent.with({...})`. */
export const overridesSpace = group(
  {
    deadline: num(1, 3_600_000, { sane: [1_000, 3_600_000] }),
    maxAttempts: num(1, 1_000, { integer: true }),
    attemptTimeout: num(1, 3_600_000, { sane: [500, 3_600_000] }),
    idempotent: bool,
    hedge: hedgeSpec,
  },
  { unknown: ['retries', 'timeout'] },
);
