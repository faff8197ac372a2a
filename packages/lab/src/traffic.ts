/**
 * The traffic driver: sends the same schedule through every client at once and records each request.
 * @module
 */
import type { LabClient, LabRequest } from './clients/types.js';
import type { RequestRecord } from './stats.js';
import type { ClientName } from './types.js';

/** A client taking part in a scenario, with its running counts. */
export interface TrafficLane {
  /** The client's name. */
  readonly name: ClientName;
  /** The client. */
  readonly client: LabClient;
  /** Finished requests. */
  readonly records: RequestRecord[];
  /** Requests sent so far. */
  sent: number;
  /** Requests finished with success so far. */
  ok: number;
  /** Requests finished with failure so far. */
  failed: number;
}

/** Options of {@link driveTraffic}. */
export interface TrafficOptions {
  /** Send times, ms after `t0`. */
  readonly schedule: readonly number[];
  /** The clients; each sends every request of the schedule. */
  readonly lanes: readonly TrafficLane[];
  /** Builds request number `seq` for a client (without its signal). */
  readonly request: (lane: TrafficLane, seq: number) => Omit<LabRequest, 'signal'>;
  /** How long a request may take before the lab gives up on it (`LAB_TIMEOUT`), in ms. */
  readonly timeoutMs: number;
  /** The start of the timeline (`performance.now()` time). */
  readonly t0: number;
  /** Stops sending and aborts requests in flight (`LAB_ABORTED`). */
  readonly signal?: AbortSignal;
}

/**
 * Sends the schedule (open loop: a request goes out at its time whether or not earlier ones are
 * done) and resolves once every request has finished, failed, or been given up on.
 */
export function driveTraffic(options: TrafficOptions): Promise<void> {
  const { schedule, lanes, t0, signal } = options;
  const pending = new Set<Promise<void>>();
  return new Promise<void>((resolve) => {
    let next = 0;
    let finished = false;
    const finish = (): void => {
      if (finished) return;
      finished = true;
      signal?.removeEventListener('abort', finish);
      next = schedule.length;
      void Promise.allSettled([...pending]).then(() => resolve());
    };
    const tick = (): void => {
      if (finished) return;
      const now = performance.now() - t0;
      while (next < schedule.length && schedule[next]! <= now) {
        for (const lane of lanes) {
          const p = send(lane, next, options);
          pending.add(p);
          void p.finally(() => pending.delete(p));
        }
        next++;
      }
      if (next < schedule.length && !signal?.aborted) setTimeout(tick, Math.max(0, schedule[next]! - (performance.now() - t0)));
      else finish();
    };
    signal?.addEventListener('abort', finish, { once: true });
    tick();
  });
}

async function send(lane: TrafficLane, seq: number, options: TrafficOptions): Promise<void> {
  const timeout = AbortSignal.timeout(options.timeoutMs);
  const signal = options.signal ? AbortSignal.any([timeout, options.signal]) : timeout;
  const request: LabRequest = { ...options.request(lane, seq), signal };
  const started = performance.now();
  lane.sent++;
  let record: RequestRecord;
  try {
    const res = await lane.client.send(request);
    const latencyMs = performance.now() - started;
    const ok = res.status >= 200 && res.status < 300;
    record = { seq, t: started - options.t0, latencyMs, ok, code: ok ? undefined : `HTTP_${res.status}`, pod: res.pod };
  } catch (err) {
    const latencyMs = performance.now() - started;
    let code: string;
    if (options.signal?.aborted) code = 'LAB_ABORTED';
    else if (timeout.aborted) code = 'LAB_TIMEOUT';
    else code = failureCode(err);
    record = { seq, t: started - options.t0, latencyMs, ok: false, code };
  }
  if (record.ok) lane.ok++;
  else lane.failed++;
  lane.records.push(record);
}

/** The code a client's error is counted under: `HTTP_<status>` for a status error, else the (nested) error code. */
export function failureCode(err: unknown): string {
  const status = (err as { response?: { statusCode?: unknown } } | null)?.response?.statusCode;
  if (typeof status === 'number') return `HTTP_${status}`;
  // The first `code` down the `cause` chain: fetch wraps undici's error, got wraps Node's.
  let e: unknown = err;
  for (let depth = 0; depth < 4 && e !== null && typeof e === 'object'; depth++) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === 'string') return code;
    e = (e as { cause?: unknown }).cause;
  }
  return 'EUNKNOWN';
}
