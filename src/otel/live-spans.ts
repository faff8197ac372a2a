import type { Attributes, Span } from '@opentelemetry/api';

/** A span in flight that the host-wide events (ejection, stale DNS, breaker) go to. @internal */
export interface LiveSpan {
  /** The host name it is registered under. */
  readonly hostname: string;
  /** The origin key of its breaker events: `protocol//host:port`, or `tcp://host:port` for a connect. */
  readonly origin: string;
  /** The request's or connect's span. */
  readonly span: Span;
}

/**
 * The request and connect spans in flight, by host name: an ejection, a stale DNS answer or a breaker
 * transition concerns every one of them.
 * @internal
 */
export class LiveSpans {
  private readonly byHost = new Map<string, Set<LiveSpan>>();

  /** Registers `entry` for its host name until {@link remove}. */
  add(entry: LiveSpan): void {
    let set = this.byHost.get(entry.hostname);
    if (set === undefined) this.byHost.set(entry.hostname, (set = new Set()));
    set.add(entry);
  }

  /** Takes `entry` out (no-op when it is not registered). */
  remove(entry: LiveSpan): void {
    const set = this.byHost.get(entry.hostname);
    if (set === undefined) return;
    set.delete(entry);
    if (set.size === 0) this.byHost.delete(entry.hostname);
  }

  /** Adds the event to the spans in flight for `hostname` (only those of `origin`, when given). */
  addEvent(hostname: string, name: string, attributes: Attributes, origin?: string): void {
    const set = this.byHost.get(hostname);
    if (set === undefined) return;
    for (const s of set) if (origin === undefined || s.origin === origin) s.span.addEvent(name, attributes);
  }
}
