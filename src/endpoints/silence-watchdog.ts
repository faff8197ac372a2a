import { silenceThreshold } from '../policy/decisions.js';
import { type OptionGroup, millis, num } from '../utils/option-table.js';
import type { EndpointSet } from './endpoint-set.js';
import { monotonicNow } from '../timing/clock.js';

/** Silent-endpoint detection: an endpoint whose requests get no answer while its peers answer. */
export interface SilentEndpointOptions {
  /** Shortest wait, in ms, after which an unanswered attempt can mark its endpoint silent. Default 200. Range 10–600000. */
  readonly after?: number;
  /** The threshold is at least this multiple of the origin's recent p99 time to headers. Default 4. Range 1–100. */
  readonly latencyMultiple?: number;
}

/** The `silentEndpoint` option's rules. @internal */
export const silentEndpointOptions: OptionGroup<SilentEndpointOptions> = {
  table: {
    after: millis(
      10,
      600_000,
      200,
      "An endpoint whose oldest attempt has waited for response headers longer than max(`after`, `latencyMultiple` × the origin's recent p99), that has answered nothing since that attempt started while another endpoint of the host has, is ejected as `silent` (within `ejection.maxPercent`). Requests waiting on it move at once if they never left the client, and idempotent ones get a second attempt elsewhere (paid from the budget; the first keeps running, the first answer wins). A POST without an idempotency key is never sent twice: it ends at `attemptTimeout` with `NotRetryableError` (`not-idempotent`). A host with one endpoint has no peer to compare with: its attempts are bounded by `connectTimeout` and `attemptTimeout`.",
    ),
    latencyMultiple: num(1, 100, 4, "The silence threshold is at least this multiple of the origin's recent p99 time to headers."),
  },
};

/** One host as the watchdog sees it. @internal */
export interface WatchedHost {
  readonly endpoints: EndpointSet;
  /** The origin's recent p99 time to headers, in ms (undefined before any). */
  p99(): number | undefined;
}

/**
 * A timer that, while attempts are in flight, looks every few tens of milliseconds for endpoints that
 * went silent ({@link EndpointSet.checkSilence}): one timer for all of an agent's hosts, none per
 * request, stopped when nothing is in flight.
 * @internal
 */
export class SilenceWatchdog {
  private timer: NodeJS.Timeout | undefined = undefined;
  private readonly tickMs: number;

  /**
   * @param hosts - the hosts to watch (read on every tick)
   * @param options - the threshold's floor and latency multiple
   */
  constructor(
    private readonly hosts: () => Iterable<WatchedHost>,
    private readonly options: Required<SilentEndpointOptions>,
  ) {
    // A fifth of the floor: silence is seen within 1.2 × the threshold.
    this.tickMs = Math.max(5, Math.min(100, Math.round(options.after / 5)));
  }

  /** Starts the timer unless it runs (cheap: called whenever an attempt is sent). */
  ensureRunning(): void {
    if (this.timer !== undefined) return;
    this.timer = setTimeout(() => this.tick(), this.tickMs);
    this.timer.unref();
  }

  /** Stops the timer. */
  stop(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
  }

  private tick(): void {
    this.timer = undefined;
    const now = monotonicNow();
    const { after, latencyMultiple } = this.options;
    let busy = false;
    for (const host of this.hosts()) {
      if (host.endpoints.endpoints.size < 2) {
        // One endpoint has no peer to compare with; its attempts are bounded by their own timers.
        continue;
      }
      if (host.endpoints.checkSilence(now, after, () => silenceThreshold(after, latencyMultiple, host.p99()))) busy = true;
    }
    if (busy) this.ensureRunning();
  }
}
