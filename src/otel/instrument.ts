import diagnosticsChannel from 'node:diagnostics_channel';
import {
  type Attributes,
  type BatchObservableCallback,
  metrics,
  type MeterProvider,
  type Observable,
  trace,
  type TracerProvider,
  ValueType,
} from '@opentelemetry/api';
import type { OriginStats } from '../core/context.js';
import {
  type BreakerEvent,
  channelNames,
  type EndpointEvent,
  type GiveUpEvent,
  type ResolveEvent,
  type RetryEvent,
  type StaleEvent,
} from '../events/channels.js';
import { setRequestHooks } from '../events/instrumentation.js';
import { checkBoolean, checkKnownKeys, checkObject } from '../utils/validate.js';
import { attr, durationBuckets, eventNames, metricNames, OriginAttributes, semconv } from './names.js';
import { LiveSpans } from './live-spans.js';
import { type RequestInstruments, requestHooksFor, type TraceSettings } from './request-trace.js';
import { type UndiciInstrumentationLike, wrapUndiciHook } from './undici-hook.js';
import { connectHookFor } from './connect-trace.js';

/** Anything with ridethrough's per-origin `stats`: a `ResilientAgent`, the `resilience()` interceptor, a `ResilienceContext`. */
export interface StatsSource {
  /** Per-origin state, keyed by origin. */
  readonly stats: Readonly<Record<string, OriginStats>>;
}

/** Options of {@link instrumentRidethrough}. */
export interface RidethroughInstrumentationOptions {
  /** Where the request and connect spans go. Default: the global tracer provider (`trace.getTracerProvider()`). */
  readonly tracerProvider?: TracerProvider;
  /** Where the metrics go. Default: the global meter provider (`metrics.getMeterProvider()`). */
  readonly meterProvider?: MeterProvider;
  /**
   * Record pod IPs: `ridethrough.endpoint` on request and connect spans and their events, `network.peer.address`
   * on a connected connect span and on the
   * attempt and ejection metrics. Default `false`: pod IPs change at every move (metric cardinality).
   */
  readonly podIpAttributes?: boolean;
  /**
   * `ResilientAgent`s, `resilience()` interceptors (or contexts) whose `stats` feed the observable gauges
   * (breaker state, budget, endpoints, waiting requests).
   */
  readonly agents?: Iterable<StatsSource>;
  /**
   * The `UndiciInstrumentation` of `@opentelemetry/instrumentation-undici`: its `startSpanHook` is wrapped
   * so attempt spans carry `http.request.resend_count` and the host name (undone by `disable()`).
   */
  readonly undiciInstrumentation?: UndiciInstrumentationLike;
}

/** What {@link instrumentRidethrough} returns: stop it with `disable()` or a `using` declaration. */
export interface RidethroughInstrumentation {
  /** Whether it still records. */
  readonly enabled: boolean;
  /** Stops recording: new requests get no span, channel subscriptions and gauge callbacks are removed. Idempotent. */
  disable(): void;
  /** The same as {@link disable}. */
  [Symbol.dispose](): void;
}

const knownOptions = ['tracerProvider', 'meterProvider', 'podIpAttributes', 'agents', 'undiciInstrumentation'];

/**
 * Instruments ridethrough with OpenTelemetry: every HTTP request through a `ResilientAgent`, the
 * `resilience()` interceptor or `resilientFetch` gets one logical CLIENT span (HTTP client
 * semantic-convention attributes plus `ridethrough.*`), active while each attempt is handed to undici,
 * so `@opentelemetry/instrumentation-undici`'s attempt spans nest under it; retries, hedges, waits,
 * ejections, stale DNS answers and breaker transitions become span events. Every `resilientConnect`
 * call gets a CLIENT span `connect <host>` with its attempts, retries and waits. The metrics in
 * docs/observability.md are recorded; the gauges among them read the `stats` of the agents and
 * interceptors passed as `agents`. Only one instrumentation is active at a time.
 *
 * @throws TypeError naming the option when an option is invalid; Error when one is active already
 * @example
 * ```ts
 * import { Agent } from 'undici';
 * import { ResilientAgent, resilience } from 'ridethrough';
 * import { instrumentRidethrough } from 'ridethrough/otel';
 * const agent = new ResilientAgent();
 * const interceptor = resilience();
 * const composed = new Agent().compose(interceptor);
 * const otel = instrumentRidethrough({ agents: [agent, interceptor] });
 * // ... at shutdown:
 * otel.disable();
 * ```
 */
export function instrumentRidethrough(options: RidethroughInstrumentationOptions = {}): RidethroughInstrumentation {
  validate(options);
  const podIps = options.podIpAttributes === true;
  const tracer = (options.tracerProvider ?? trace.getTracerProvider()).getTracer('ridethrough');
  const meter = (options.meterProvider ?? metrics.getMeterProvider()).getMeter('ridethrough');
  const origins = new OriginAttributes();
  const live = new LiveSpans();
  const instruments: RequestInstruments = {
    duration: meter.createHistogram(metricNames.requestDuration, {
      description: 'Duration of HTTP requests through ridethrough, as the caller saw them (all attempts, waits and retries).',
      unit: 's',
      advice: { explicitBucketBoundaries: durationBuckets },
    }),
    attempts: meter.createCounter(metricNames.attempts, { description: 'Attempts of HTTP requests, by outcome.', unit: '{attempt}', valueType: ValueType.INT }),
  };
  const settings: TraceSettings = { tracer, instruments, podIps, live };
  // Before any subscription: a second instrumentation fails here with nothing to undo.
  let undoHooks: (() => void) | undefined = setRequestHooks({ ...requestHooksFor(settings), connect: connectHookFor(settings) });

  const counter = (name: string, description: string, unit: string) => meter.createCounter(name, { description, unit, valueType: ValueType.INT });
  const retries = counter(metricNames.retries, 'Retries (and moves) of requests and TCP connects, by reason.', '{retry}');
  const giveUps = counter(metricNames.giveUps, 'Requests and TCP connects ridethrough gave up on, by error code.', '{request}');
  const ejections = counter(metricNames.ejections, 'Endpoints ejected, by reason.', '{ejection}');
  const transitions = counter(metricNames.breakerTransitions, 'Circuit breaker transitions, by new state.', '{transition}');
  const stale = counter(metricNames.staleAnswers, 'DNS answers served past their TTL because DNS failed or was slow.', '{answer}');
  const dnsDuration = meter.createHistogram(metricNames.dnsDuration, {
    description: 'Duration of the DNS queries ridethrough made.',
    unit: 's',
    advice: { explicitBucketBoundaries: durationBuckets },
  });

  const subscriptions: [string, (message: unknown) => void][] = [
    [
      channelNames.retry,
      (m) => {
        const e = m as RetryEvent;
        retries.add(1, { ...origins.of(e.origin), [semconv.method]: e.method, [attr.retryReason]: e.reason });
      },
    ],
    [
      channelNames.giveUp,
      (m) => {
        const e = m as GiveUpEvent;
        giveUps.add(1, { ...origins.of(e.origin), [semconv.method]: e.method, [semconv.errorType]: e.code });
      },
    ],
    [
      channelNames.endpointEjected,
      (m) => {
        const e = m as EndpointEvent;
        const a: Attributes = { [semconv.serverAddress]: e.hostname, [attr.ejectionReason]: e.reason };
        if (podIps) a[semconv.peerAddress] = e.address;
        ejections.add(1, a);
        const event: Attributes = { [attr.ejectionReason]: e.reason, [attr.ejectedForMs]: e.ejectedForMs };
        if (podIps) event[attr.endpoint] = e.address;
        live.addEvent(e.hostname, eventNames.ejected, event);
      },
    ],
    [
      channelNames.breaker,
      (m) => {
        const e = m as BreakerEvent;
        const o = origins.of(e.origin);
        transitions.add(1, { ...o, [attr.breakerState]: e.state });
        live.addEvent(String(o[semconv.serverAddress]), eventNames.breaker, { [attr.breakerState]: e.state }, e.origin);
      },
    ],
    [
      channelNames.stale,
      (m) => {
        const e = m as StaleEvent;
        stale.add(1, { [semconv.dnsQuestion]: e.hostname, [semconv.errorType]: e.error });
        live.addEvent(e.hostname, eventNames.stale, { [semconv.errorType]: e.error, [attr.staleAgeMs]: e.ageMs });
      },
    ],
    [
      channelNames.resolve,
      (m) => {
        const e = m as ResolveEvent;
        const a: Attributes = { [semconv.dnsQuestion]: e.hostname };
        if (e.error !== undefined) a[semconv.errorType] = e.error;
        dnsDuration.record(e.durationMs / 1_000, a);
      },
    ],
  ];
  for (const [name, fn] of subscriptions) diagnosticsChannel.subscribe(name, fn);

  const agents = options.agents === undefined ? [] : [...options.agents];
  const gauges = agents.length === 0 ? undefined : observeStats(meter, agents, origins);
  const undoUndici = options.undiciInstrumentation === undefined ? undefined : wrapUndiciHook(options.undiciInstrumentation);

  const disable = (): void => {
    if (undoHooks === undefined) return;
    undoHooks();
    undoHooks = undefined;
    for (const [name, fn] of subscriptions) diagnosticsChannel.unsubscribe(name, fn);
    gauges?.remove();
    undoUndici?.();
  };
  return {
    get enabled() {
      return undoHooks !== undefined;
    },
    disable,
    [Symbol.dispose]: disable,
  };
}

/** Registers the observable gauges fed by the agents' `stats`; returns their removal. */
function observeStats(meter: ReturnType<typeof metrics.getMeter>, agents: readonly StatsSource[], origins: OriginAttributes): { remove(): void } {
  const gauge = (name: string, description: string, unit: string) => meter.createObservableGauge(name, { description, unit, valueType: ValueType.INT });
  const breakerState = meter.createObservableUpDownCounter(metricNames.breakerState, {
    description: 'Circuit breaker state per origin: 1 for the current state, 0 for the others.',
    unit: '{breaker}',
    valueType: ValueType.INT,
  });
  const budget = gauge(metricNames.budgetAvailable, 'Retries the retry budget allows now, per origin.', '{retry}');
  const endpoints = gauge(metricNames.endpoints, 'Endpoints (resolved addresses) per origin, by state.', '{endpoint}');
  const waiting = gauge(metricNames.waiting, 'Requests parked until an endpoint of the origin is usable.', '{request}');
  const refusals = meter.createObservableCounter(metricNames.budgetRefusals, {
    description: 'Retries the retry budget refused, per origin.',
    unit: '{retry}',
    valueType: ValueType.INT,
  });
  const observables: Observable[] = [breakerState, budget, endpoints, waiting, refusals];
  const states = ['closed', 'open', 'half-open'] as const;
  const callback: BatchObservableCallback = (result) => {
    for (const agent of agents) {
      for (const s of Object.values(agent.stats)) {
        const o = origins.of(s.origin);
        if (s.breaker !== 'disabled')
          for (const state of states) result.observe(breakerState, state === s.breaker ? 1 : 0, { ...o, [attr.breakerState]: state });
        if (s.budgetAvailable !== undefined) {
          result.observe(budget, s.budgetAvailable, o);
          result.observe(refusals, s.budgetRefused, o);
        }
        let healthy = 0;
        for (const e of s.endpoints) if (e.state === 'healthy') healthy++;
        result.observe(endpoints, healthy, { ...o, [attr.endpointState]: 'healthy' });
        result.observe(endpoints, s.endpoints.length - healthy, { ...o, [attr.endpointState]: 'ejected' });
        result.observe(waiting, s.waiting, o);
      }
    }
  };
  meter.addBatchObservableCallback(callback, observables);
  return { remove: () => meter.removeBatchObservableCallback(callback, observables) };
}

function validate(options: RidethroughInstrumentationOptions): void {
  checkObject('options', options);
  checkKnownKeys('', options, knownOptions);
  checkBoolean('podIpAttributes', options.podIpAttributes);
  checkMethods('tracerProvider', options.tracerProvider, ['getTracer']);
  checkMethods('meterProvider', options.meterProvider, ['getMeter']);
  checkMethods('undiciInstrumentation', options.undiciInstrumentation, ['getConfig', 'setConfig']);
  const agents = options.agents as unknown;
  if (agents === undefined) return;
  if (agents === null || typeof agents !== 'object' || typeof (agents as Iterable<unknown>)[Symbol.iterator] !== 'function') {
    throw new TypeError(
      `ridethrough: option "agents" must be an iterable of ResilientAgent, resilience() interceptor (or ResilienceContext), got ${typeof agents}`,
    );
  }
  for (const a of agents as Iterable<unknown>) {
    // The interceptor is a function carrying a `stats` getter.
    if (a === null || (typeof a !== 'object' && typeof a !== 'function') || !('stats' in a))
      throw new TypeError('ridethrough: option "agents" must hold objects with a `stats` getter (ResilientAgent, resilience() interceptor, ResilienceContext)');
  }
}

function checkMethods(name: string, value: unknown, methods: readonly string[]): void {
  if (value === undefined) return;
  const o = value as Record<string, unknown> | null;
  if (o === null || typeof o !== 'object' || methods.some((m) => typeof o[m] !== 'function')) {
    throw new TypeError(
      `ridethrough: option "${name}" must be an object with ${methods.map((m) => `${m}()`).join(' and ')}, got ${o === null ? 'null' : typeof o}`,
    );
  }
}
