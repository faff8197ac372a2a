import {
  type Attributes,
  type Context,
  type Counter,
  context,
  createContextKey,
  diag,
  type Histogram,
  type Span,
  SpanKind,
  SpanStatusCode,
  trace,
  type Tracer,
} from '@opentelemetry/api';
import type { AttemptEndInfo, AttemptStartInfo, RequestHooks, RequestNote, RequestStartInfo, RequestTrace } from '../events/instrumentation.js';
import type { LiveSpan, LiveSpans } from './live-spans.js';
import { attr, errorType, eventNames, giveUpCode, isAbort, methodAttribute, semconv } from './names.js';

/** What the active context carries while an attempt is handed to undici (read by the undici hook). @internal */
export interface AttemptContext {
  /** The attempt (1-based). */
  readonly attempt: number;
  /** The logical request's host name, port and URL (never a pod IP). */
  readonly hostname: string;
  readonly port: number;
  readonly urlFull: string;
}

/** The context key of {@link AttemptContext}. @internal */
export const attemptKey = createContextKey('ridethrough attempt');

/** The instruments request traces record into (undefined when metrics are off). @internal */
export interface RequestInstruments {
  readonly duration: Histogram;
  readonly attempts: Counter;
}

/** Settings the request traces share. @internal */
export interface TraceSettings {
  readonly tracer: Tracer;
  readonly instruments: RequestInstruments | undefined;
  readonly podIps: boolean;
  /** The request and connect spans in flight, for the host-wide events (ejection, stale DNS, breaker). */
  readonly live: LiveSpans;
}

/** The {@link RequestHooks} of `ridethrough/otel`. @internal */
export function requestHooksFor(settings: TraceSettings): RequestHooks {
  return {
    start: (info) => {
      try {
        return new OtelRequestTrace(settings, info);
      } catch (err) {
        // A failing SDK must not fail the request: it goes on untraced.
        diag.error('ridethrough/otel: could not start a request span', err);
        return untraced;
      }
    },
  };
}

/** The trace of a request whose span could not be started: the attempts still go out. */
const untraced: RequestTrace = {
  attempt: (_info, send) => send(),
  attemptEnd: () => {},
  note: () => {},
  end: () => {},
};

/** Runs `fn`, reporting what it throws to OpenTelemetry's diagnostics instead of the request flow. @internal */
export function guarded(what: string, fn: () => void): void {
  try {
    fn();
  } catch (err) {
    diag.error(`ridethrough/otel: ${what} failed`, err);
  }
}

/** Adds a retry, hedge or wait (of a request or a TCP connect) to its span as an event. @internal */
export function addNoteEvent(span: Span, note: RequestNote, podIps: boolean): void {
  switch (note.kind) {
    case 'retry': {
      const e = note.event;
      const a: Attributes = { [attr.attempt]: e.attempt, [attr.retryReason]: e.reason, [attr.delayMs]: e.delayMs };
      if (podIps && e.address !== undefined) a[attr.endpoint] = e.address;
      span.addEvent(eventNames.retry, a);
      return;
    }
    case 'hedge': {
      const e = note.event;
      const a: Attributes = { [attr.hedgeReason]: e.reason, [attr.delayMs]: e.delayMs };
      if (podIps && e.address !== undefined) a[attr.endpoint] = e.address;
      span.addEvent(eventNames.hedge, a);
      return;
    }
    case 'wait':
      span.addEvent(eventNames.wait, { [attr.attempts]: note.event.attempts, [attr.delayMs]: note.event.maxWaitMs });
      return;
  }
}

/**
 * One request: its logical CLIENT span (the parent of every attempt's span), its duration and its
 * attempts' counts.
 * @internal
 */
export class OtelRequestTrace implements RequestTrace, LiveSpan {
  /** The request's span. */
  readonly span: Span;
  /** The request's origin key. */
  readonly origin: string;
  private readonly context: Context;
  private readonly startedAt = performance.now();
  private readonly attributes: Attributes;
  /** The host name of the request or connect. */
  readonly hostname: string;
  private readonly port: number;
  private readonly urlFull: string;
  private status: number | undefined = undefined;
  private lastAddress: string | undefined = undefined;

  /**
   * @param settings - tracer, instruments and options
   * @param info - the request as it starts
   */
  constructor(
    private readonly settings: TraceSettings,
    info: RequestStartInfo,
  ) {
    const method = methodAttribute(info.method);
    const scheme = info.protocol.slice(0, -1);
    const host = info.hostname.includes(':') ? `[${info.hostname}]` : info.hostname;
    this.hostname = info.hostname;
    this.port = info.port;
    this.origin = info.origin;
    this.urlFull = `${info.protocol}//${host}:${info.port}${info.path}`;
    // The metric's attributes: bounded (no path, no pod IP unless asked for).
    this.attributes = { [semconv.method]: method, [semconv.serverAddress]: info.hostname, [semconv.serverPort]: info.port, [semconv.urlScheme]: scheme };
    const spanAttributes: Attributes = { ...this.attributes, [semconv.urlFull]: this.urlFull };
    if (method === '_OTHER') spanAttributes[semconv.methodOriginal] = info.method;
    const parent = context.active();
    this.span = settings.tracer.startSpan(method === '_OTHER' ? 'HTTP' : method, { kind: SpanKind.CLIENT, attributes: spanAttributes }, parent);
    this.context = trace.setSpan(parent, this.span);
    settings.live.add(this);
  }

  attempt(info: AttemptStartInfo, send: () => void): void {
    this.lastAddress = info.address;
    const carried: AttemptContext = { attempt: info.attempt, hostname: this.hostname, port: this.port, urlFull: this.urlFull };
    let sent = false;
    const run = (): void => {
      sent = true;
      send();
    };
    try {
      context.with(this.context.setValue(attemptKey, carried), run);
    } catch (err) {
      // What send throws is the flow's to handle; a context manager that failed before it ran must not lose the attempt.
      if (sent) throw err;
      diag.error('ridethrough/otel: could not enter the request context', err);
      send();
    }
  }

  attemptEnd(info: AttemptEndInfo): void {
    guarded('recording an attempt', () => this.recordAttempt(info));
  }

  note(note: RequestNote): void {
    guarded('adding a span event', () => addNoteEvent(this.span, note, this.settings.podIps));
  }

  end(error: Error | undefined, attempts: number): void {
    guarded('ending a request span', () => this.finish(error, attempts));
  }

  private recordAttempt(info: AttemptEndInfo): void {
    if (info.outcome === 'answered') this.status = info.status;
    const instruments = this.settings.instruments;
    if (instruments === undefined) return;
    const a: Attributes = { ...this.attributes, [attr.outcome]: info.outcome };
    if (info.error !== undefined) a[semconv.errorType] = errorType(info.error);
    else if (info.status !== undefined) {
      a[semconv.status] = info.status;
      if (info.status >= 400) a[semconv.errorType] = String(info.status);
    }
    if (this.settings.podIps) a[semconv.peerAddress] = info.address;
    instruments.attempts.add(1, a);
  }

  private finish(error: Error | undefined, attempts: number): void {
    this.settings.live.remove(this);
    const span = this.span;
    const metric: Attributes = { ...this.attributes };
    const status = this.status;
    if (status !== undefined) {
      span.setAttribute(semconv.status, status);
      metric[semconv.status] = status;
    }
    span.setAttribute(attr.attempts, attempts);
    if (this.settings.podIps && this.lastAddress !== undefined) span.setAttribute(attr.endpoint, this.lastAddress);
    if (error !== undefined && !isAbort(error)) {
      const type = errorType(error);
      const code = giveUpCode(error);
      if (code !== undefined) span.setAttribute(attr.giveUpCode, code);
      span.setAttribute(semconv.errorType, type);
      span.recordException(error);
      span.setStatus({ code: SpanStatusCode.ERROR, message: error.message });
      metric[semconv.errorType] = type;
    } else if (error === undefined && status !== undefined && status >= 400) {
      // The conventions: a 4xx or 5xx answer is an error of a CLIENT span.
      span.setAttribute(semconv.errorType, String(status));
      span.setStatus({ code: SpanStatusCode.ERROR });
      metric[semconv.errorType] = String(status);
    }
    span.end();
    this.settings.instruments?.duration.record((performance.now() - this.startedAt) / 1_000, metric);
  }
}
