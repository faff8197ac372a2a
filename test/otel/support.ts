/**
 * The real OpenTelemetry SDK for the otel tests: an AsyncLocalStorage context manager, a tracer provider
 * exporting to memory, a meter provider with a reader the test collects from, and the real
 * `@opentelemetry/instrumentation-undici` wired to both.
 */
import { context, type Attributes, type HrTime } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { UndiciInstrumentation, type UndiciInstrumentationConfig } from '@opentelemetry/instrumentation-undici';
import { AggregationTemporality, type DataPoint, type Histogram, MeterProvider, MetricReader, type ResourceMetrics } from '@opentelemetry/sdk-metrics';
import { BasicTracerProvider, InMemorySpanExporter, type ReadableSpan, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-base';

/** A metric reader the test collects from on demand (cumulative temporality). */
class CollectingReader extends MetricReader {
  constructor() {
    super({ aggregationTemporalitySelector: () => AggregationTemporality.CUMULATIVE });
  }
  protected override onForceFlush(): Promise<void> {
    return Promise.resolve();
  }
  protected override onShutdown(): Promise<void> {
    return Promise.resolve();
  }
}

/** One metric's data points, flattened. */
export interface Points {
  readonly scope: string;
  readonly name: string;
  readonly unit: string;
  readonly points: readonly { readonly attributes: Attributes; readonly value: number | Histogram }[];
}

/** The SDK parts of one test file. */
export interface Otel {
  readonly exporter: InMemorySpanExporter;
  readonly tracerProvider: BasicTracerProvider;
  readonly meterProvider: MeterProvider;
  readonly undici: UndiciInstrumentation;
  /** Every metric collected now, by `scope/name`. */
  collect(): Promise<Map<string, Points>>;
  /** Ended spans, oldest first. */
  spans(): ReadableSpan[];
  /** Forgets the spans exported so far. */
  reset(): void;
  shutdown(): Promise<void>;
}

/** Sets up the SDK and the real undici instrumentation (enabled). */
export function setupOtel(undiciConfig: UndiciInstrumentationConfig = {}): Otel {
  const contextManager = new AsyncLocalStorageContextManager().enable();
  context.setGlobalContextManager(contextManager);
  const exporter = new InMemorySpanExporter();
  const tracerProvider = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] });
  const reader = new CollectingReader();
  const meterProvider = new MeterProvider({ readers: [reader] });
  const undici = new UndiciInstrumentation(undiciConfig);
  undici.setTracerProvider(tracerProvider);
  undici.setMeterProvider(meterProvider);
  return {
    exporter,
    tracerProvider,
    meterProvider,
    undici,
    async collect() {
      const { resourceMetrics } = await reader.collect();
      return flatten(resourceMetrics);
    },
    spans: () => exporter.getFinishedSpans().slice(),
    reset: () => exporter.reset(),
    async shutdown() {
      undici.disable();
      await tracerProvider.shutdown();
      await meterProvider.shutdown();
      context.disable();
    },
  };
}

function flatten(rm: ResourceMetrics): Map<string, Points> {
  const out = new Map<string, Points>();
  for (const sm of rm.scopeMetrics) {
    for (const m of sm.metrics) {
      const points = (m.dataPoints as DataPoint<number | Histogram>[]).map((p) => ({ attributes: p.attributes, value: p.value }));
      out.set(`${sm.scope.name}/${m.descriptor.name}`, { scope: sm.scope.name, name: m.descriptor.name, unit: m.descriptor.unit, points });
    }
  }
  return out;
}

/** The sum of a counter's points (or a histogram's counts) whose attributes include `match`. */
export function total(p: Points | undefined, match: Attributes = {}): number {
  if (p === undefined) return 0;
  let n = 0;
  for (const point of p.points) {
    if (!Object.entries(match).every(([k, v]) => point.attributes[k] === v)) continue;
    n += typeof point.value === 'number' ? point.value : point.value.count;
  }
  return n;
}

/** Milliseconds between two HrTimes. */
export function ms(from: HrTime, to: HrTime): number {
  return (to[0] - from[0]) * 1e3 + (to[1] - from[1]) / 1e6;
}

/** The span's parent span id (SDK 2 keeps it in parentSpanContext). */
export function parentId(span: ReadableSpan): string | undefined {
  return span.parentSpanContext?.spanId;
}
