import { ResilienceContext } from '../core/context.js';
import type { BackoffOptions, EjectionOptions } from '../core/options.js';
import type { DnsOptions } from '../resolve/dns-options.js';

/** The context-level settings a TCP helper may carry when no context is passed. */
export interface ContextSettings {
  /** DNS cache and resolver settings. */
  readonly dns?: DnsOptions;
  /** Per-address ejection. */
  readonly ejection?: EjectionOptions;
  /** Retry backoff. */
  readonly backoff?: BackoffOptions;
}

const maxContexts = 16;
const contexts = new Map<string, ResilienceContext>();

/**
 * The context TCP helpers use when the caller passes none: one per distinct set of `dns`, `ejection`
 * and `backoff` settings, created on first use and kept, so calls with equal settings share one DNS
 * cache and one view of endpoint health. At most 16 are kept; the oldest is closed to make room.
 * Options are validated on creation (`TypeError`/`RangeError` naming the option).
 * @internal
 */
export function sharedContext(settings: ContextSettings): ResilienceContext {
  // Given and not given stay apart (`null` is a value to refuse, not "none"): each distinct setting is validated once.
  const key = JSON.stringify([
    settings.dns === undefined ? 0 : settings.dns,
    settings.ejection === undefined ? 0 : settings.ejection,
    settings.backoff === undefined ? 0 : settings.backoff,
  ]);
  const hit = contexts.get(key);
  if (hit) return hit;
  const options: ContextSettings = {
    ...(settings.dns === undefined ? {} : { dns: settings.dns }),
    ...(settings.ejection === undefined ? {} : { ejection: settings.ejection }),
    ...(settings.backoff === undefined ? {} : { backoff: settings.backoff }),
  };
  const ctx = new ResilienceContext(options);
  if (contexts.size >= maxContexts) {
    const [oldestKey, oldest] = contexts.entries().next().value as [string, ResilienceContext];
    contexts.delete(oldestKey);
    oldest.close();
  }
  contexts.set(key, ctx);
  return ctx;
}
