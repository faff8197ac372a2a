import { type Attributes, type Context, context, diag, type Span, SpanKind, SpanStatusCode, trace } from '@opentelemetry/api';
import type { ConnectAttemptInfo, ConnectEndInfo, ConnectNote, ConnectStartInfo, ConnectTrace } from '../events/instrumentation.js';
import { attr, errorType, giveUpCode, semconv } from './names.js';
import type { LiveSpan } from './live-spans.js';
import { addNoteEvent, guarded, type TraceSettings } from './request-trace.js';

/** The `connect` hook of `ridethrough/otel`: a span per `resilientConnect` call. @internal */
export function connectHookFor(settings: TraceSettings): (info: ConnectStartInfo) => ConnectTrace | undefined {
  return (info) => {
    try {
      return new OtelConnectTrace(settings, info);
    } catch (err) {
      // A failing SDK must not fail the connect: it goes on untraced.
      diag.error('ridethrough/otel: could not start a connect span', err);
      return undefined;
    }
  };
}

/**
 * One `resilientConnect` call: its CLIENT span `connect <host>`, from the call to the connected socket
 * (or the error the caller gets), across every attempt, wait and DNS query. The span is active while
 * each attempt connects, so a socket instrumentation's spans nest under it. While it runs, the host's
 * ejections and stale DNS answers are events on it, as on a request's span (a connect has no breaker).
 * @internal
 */
export class OtelConnectTrace implements ConnectTrace, LiveSpan {
  /** The connect's span. */
  readonly span: Span;
  /** The connect's endpoint-state key, `tcp://host:port`. */
  readonly origin: string;
  /** The host name of the request or connect. */
  readonly hostname: string;
  private readonly context: Context;

  /**
   * @param settings - tracer and options
   * @param info - the connect as it starts
   */
  constructor(
    private readonly settings: TraceSettings,
    info: ConnectStartInfo,
  ) {
    const attributes: Attributes = {
      [semconv.serverAddress]: info.hostname,
      [semconv.serverPort]: info.port,
      [semconv.networkTransport]: 'tcp',
    };
    const parent = context.active();
    this.span = settings.tracer.startSpan(`connect ${info.hostname}`, { kind: SpanKind.CLIENT, attributes }, parent);
    this.context = trace.setSpan(parent, this.span);
    this.origin = info.origin;
    this.hostname = info.hostname;
    settings.live.add(this);
  }

  attempt<T>(_info: ConnectAttemptInfo, connect: () => T): T {
    let started = false;
    const run = (): T => {
      started = true;
      return connect();
    };
    try {
      return context.with(this.context, run);
    } catch (err) {
      // What connect throws is the connect's to handle; a context manager that failed before it ran must not lose the attempt.
      if (started) throw err;
      diag.error('ridethrough/otel: could not enter the connect context', err);
      return connect();
    }
  }

  note(note: ConnectNote): void {
    guarded('adding a span event', () => addNoteEvent(this.span, note, this.settings.podIps));
  }

  end(info: ConnectEndInfo): void {
    guarded('ending a connect span', () => this.finish(info));
  }

  private finish(info: ConnectEndInfo): void {
    this.settings.live.remove(this);
    const span = this.span;
    span.setAttribute(attr.attempts, info.attempts);
    if (this.settings.podIps && info.address !== undefined) {
      span.setAttribute(attr.endpoint, info.address);
      if (info.error === undefined && !info.aborted) {
        // Connected: the peer of the connection.
        span.setAttribute(semconv.peerAddress, info.address);
        if (info.port !== undefined) span.setAttribute(semconv.peerPort, info.port);
      }
    }
    const error = info.error;
    if (error !== undefined) {
      const code = giveUpCode(error);
      if (code !== undefined) span.setAttribute(attr.giveUpCode, code);
      span.setAttribute(semconv.errorType, errorType(error));
      span.recordException(error);
      span.setStatus({ code: SpanStatusCode.ERROR, message: error.message });
    }
    span.end();
  }
}
