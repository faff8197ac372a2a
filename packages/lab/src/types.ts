/**
 * The data model of a lab run: what `runLab()` returns, what `--json` prints and what the HTML
 * report is drawn from. Times are milliseconds; `t` values are offsets from the start of a
 * scenario's traffic.
 * @module
 */
import type { BoundSummary, UnavailabilityWindow } from './bound.js';

export type { BoundSummary, UnavailabilityWindow } from './bound.js';

/** Names of the scenarios the lab knows, in the order they run. */
export type ScenarioName =
  | 'move'
  | 'node-death'
  | 'replica-loss'
  | 'replica-blackhole'
  | 'dns-outage'
  | 'post-move'
  | 'lost-response'
  | 'rolling-restart'
  | 'keepalive-race'
  | 'scale-up'
  | 'k8s-move'
  | 'k8s-rolling-restart';

/** Names of the HTTP clients the lab compares. */
export type ClientName = 'fetch' | 'undici-interceptors' | 'got' | 'ridethrough' | 'ridethrough-k8s';

/** A moment on a scenario's timeline, drawn as a marker in the report. */
export interface LabEvent {
  /** When it happened, in ms since the scenario's traffic started. */
  readonly t: number;
  /** What kind of change: a pod change, a DNS change, a fault being injected or removed. */
  readonly kind: 'pod' | 'dns' | 'fault' | 'recover' | 'scale';
  /** Short text shown on the chart ("pod moved", "DNS updated"). */
  readonly label: string;
}

/** A pod of a scenario and what it served. */
export interface PodSummary {
  /** Pod name, such as `inventory-1`. */
  readonly name: string;
  /** Its loopback address. */
  readonly address: string;
  /** Requests it executed (responses lost or not), per client. */
  readonly served: Readonly<Record<string, number>>;
  /** Requests it refused by closing an idle keep-alive connection as they arrived (keepalive-race). */
  readonly raced: number;
}

/** Success and failure of the requests sent during one time slice. */
export interface TimelineBucket {
  /** Start of the slice (by send time), ms since the scenario started. */
  readonly t: number;
  /** Requests sent in the slice. */
  readonly sent: number;
  /** Of those, how many succeeded. */
  readonly ok: number;
  /** Of those, how many failed. */
  readonly failed: number;
}

/** Where successful requests went during one time slice (scale-up). */
export interface SpreadBucket {
  /** Start of the slice (by send time), ms since the scenario started. */
  readonly t: number;
  /** Successful requests per pod name. */
  readonly byPod: Readonly<Record<string, number>>;
}

/** One request, compactly: `[sent at (ms), latency (ms), 1 if it succeeded else 0]`. */
export type Sample = readonly [t: number, latencyMs: number, ok: 0 | 1];

/** Latency of the successful requests, in ms. */
export interface LatencySummary {
  readonly p50: number;
  readonly p99: number;
  readonly max: number;
}

/** For POST scenarios: what the pods executed for this client's requests. */
export interface PostSummary {
  /** Executions seen by the pods (every execution of every request id). */
  readonly executed: number;
  /** Request ids the pods executed more than once. */
  readonly duplicated: number;
  /** Extra executions beyond the first, summed over request ids. */
  readonly extraExecutions: number;
  /** Requests the client reported as failed although a pod executed them. */
  readonly executedButFailed: number;
}

/** How one client did in one scenario. */
export interface ClientRun {
  /** The client. */
  readonly client: ClientName;
  /** `ran`, or `skipped` with {@link ClientRun.reason} (for example the package is not installed). */
  readonly status: 'ran' | 'skipped';
  /** Why the client was skipped. */
  readonly reason?: string;
  /** Requests sent. */
  readonly sent: number;
  /** Requests that got a 2xx response, body read. */
  readonly succeeded: number;
  /** Requests that failed (error, non-2xx status, or still pending after the lab's patience). */
  readonly failed: number;
  /** Retries the client made (attempts beyond each request's first), for clients that can tell (ridethrough's). */
  readonly retries?: number;
  /** Failures by error code (`ECONNREFUSED`, `UND_ERR_SOCKET`, `HTTP_503`, `LAB_TIMEOUT`, ...). */
  readonly errors: Readonly<Record<string, number>>;
  /** Latency of successful requests; `null` when none succeeded. */
  readonly latency: LatencySummary | null;
  /**
   * The physical bound of the same successful requests (see {@link ScenarioResult.windows}) and how
   * far the latency stayed above it; `null` when none succeeded.
   */
  readonly bound: BoundSummary | null;
  /** POST scenarios only: executions seen by the pods. */
  readonly post?: PostSummary;
  /** Success per time slice. */
  readonly timeline: readonly TimelineBucket[];
  /** Every request (for the latency chart). */
  readonly samples: readonly Sample[];
  /** Scale-up only: where successful requests went over time. */
  readonly spread?: readonly SpreadBucket[];
}

/** How one scenario went. */
export interface ScenarioResult {
  /** Scenario name (`move`, `dns-outage`, ...). */
  readonly name: ScenarioName;
  /** One-line title. */
  readonly title: string;
  /** What the scenario reproduces and what to look for. */
  readonly summary: string;
  /** HTTP method every request uses. */
  readonly method: 'GET' | 'POST';
  /** `ran`; `skipped` (needs root, iptables missing, ...) or `failed` (the lab itself broke), with a reason. */
  readonly status: 'ran' | 'skipped' | 'failed';
  /** Why it was skipped or failed. */
  readonly reason?: string;
  /** How long traffic was sent, in ms. */
  readonly durationMs: number;
  /** The planned timeline, in words ("t=1.8 s: the pod stops ..."). */
  readonly timing: readonly string[];
  /** What actually happened, when. */
  readonly events: readonly LabEvent[];
  /**
   * When no endpoint a client could know of was reachable (every published address gone, the new
   * ones not yet in DNS). A request sent inside a window cannot succeed before it ends.
   */
  readonly windows: readonly UnavailabilityWindow[];
  /** The pods and what they served. */
  readonly pods: readonly PodSummary[];
  /** One entry per client, in the order asked for. */
  readonly clients: readonly ClientRun[];
  /**
   * How late the lab's own event loop ran while traffic flowed (pods and clients share it). A large
   * `maxMs` means the machine was busy and latencies include that stall.
   */
  readonly eventLoop?: { readonly p99Ms: number; readonly maxMs: number };
}

/** How a client is set up, for the report. */
export interface ClientInfo {
  /** The client. */
  readonly name: ClientName;
  /** Whether it could be loaded. */
  readonly available: boolean;
  /** Why it could not. */
  readonly reason?: string;
  /** What it is and which of its defaults matter here. */
  readonly description: string;
  /** How it resolves the lab's service names. */
  readonly resolution: string;
}

/** The result of {@link runLab}: also what `ridethrough-lab --json` prints. */
export interface LabResult {
  /** Always `'ridethrough-lab'`. */
  readonly tool: 'ridethrough-lab';
  /** Version of this JSON shape. */
  readonly version: 1;
  /** When the run started and ended (ISO 8601). */
  readonly startedAt: string;
  readonly finishedAt: string;
  /** Where it ran. */
  readonly environment: {
    readonly node: string;
    readonly platform: string;
    readonly root: boolean;
    /** Why root-only scenarios cannot run, or `null` when they can. */
    readonly rootUnavailable: string | null;
    /** undici version used by the undici-based clients. */
    readonly undici: string;
  };
  /** The settings used. */
  readonly settings: {
    readonly scenarios: readonly ScenarioName[];
    readonly clients: readonly ClientName[];
    /** Requests per second per client. */
    readonly rate: number;
    /** Traffic duration in seconds, when overridden; `null` for each scenario's default. */
    readonly duration: number | null;
    /** Seconds the lab waits for a request before counting it as `LAB_TIMEOUT`. */
    readonly timeout: number;
  };
  /** The clients compared. */
  readonly clients: readonly ClientInfo[];
  /** One entry per scenario asked for, in run order. */
  readonly scenarios: readonly ScenarioResult[];
  /** Path of the HTML report, when one was written. */
  readonly report?: string;
}
