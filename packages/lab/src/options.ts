/**
 * Options of {@link runLab}, their defaults and their validation (shared by the CLI).
 * @module
 */
import type { Writable } from 'node:stream';
import type { ClientName, ScenarioName } from './types.js';

/** Every scenario, in run order. */
export const scenarioNames: readonly ScenarioName[] = [
  'move',
  'node-death',
  'replica-loss',
  'replica-blackhole',
  'dns-outage',
  'post-move',
  'lost-response',
  'rolling-restart',
  'keepalive-race',
  'scale-up',
];

/** Scenarios with a Kubernetes API (the EndpointSlice resolver's): run only when named (`--scenario k8s-move`). */
export const kubernetesScenarioNames: readonly ScenarioName[] = ['k8s-move', 'k8s-rolling-restart'];

/** Every client, in table order. */
export const clientNames: readonly ClientName[] = ['fetch', 'undici-interceptors', 'got', 'ridethrough'];

/** ridethrough with the EndpointSlice resolver: a client of its own, run by default with the Kubernetes scenarios. */
export const kubernetesClientNames: readonly ClientName[] = ['ridethrough-k8s'];

/** Options of {@link runLab}. */
export interface LabOptions {
  /** Scenarios to run, in the lab's order whatever the order given. Default: all but the Kubernetes API ones (`k8s-*`). */
  readonly scenarios?: readonly string[];
  /** Clients to compare. Default: all (`ridethrough-k8s` only with a `k8s-*` scenario). */
  readonly clients?: readonly string[];
  /** Requests per second sent by each client. Default 50. Range 1–500. */
  readonly rate?: number;
  /** Seconds of traffic per scenario. Default: each scenario's own (5 s; 8 s for dns-outage). Range 4–120. */
  readonly duration?: number;
  /** Seconds the lab waits for one request before counting it as failed (`LAB_TIMEOUT`). Default 8. Range 1–120. */
  readonly timeout?: number;
  /** Where to write the HTML report, or `false`/undefined for none. */
  readonly report?: string | false;
  /** Where to draw progress (usually `process.stderr`), or `false`/undefined for none. */
  readonly progress?: Writable | false;
  /** Stops the run early: the current scenario ends, the others are skipped. */
  readonly signal?: AbortSignal;
}

/** Validated options with defaults. @internal */
export interface ResolvedLabOptions {
  scenarios: ScenarioName[];
  clients: ClientName[];
  rate: number;
  duration: number | null;
  timeout: number;
  report: string | false;
  progress: Writable | false;
  signal: AbortSignal | undefined;
}

/** Defaults of {@link LabOptions}. */
export const labDefaults = { rate: 50, timeout: 8, report: './lab-report/index.html' } as const;

/**
 * Validates options and fills in defaults. Throws `TypeError`/`RangeError` with a message naming
 * the option and what it accepts.
 * @internal
 */
export function resolveLabOptions(options: LabOptions = {}): ResolvedLabOptions {
  if (options === null || typeof options !== 'object') throw new TypeError('ridethrough-lab: options must be an object');
  const scenarios = pickNames('scenario', options.scenarios, [...scenarioNames, ...kubernetesScenarioNames], scenarioNames);
  const withApi = scenarios.some((n) => kubernetesScenarioNames.includes(n));
  const allClients = [...clientNames, ...kubernetesClientNames];
  const clients = pickNames('client', options.clients, allClients, withApi ? allClients : clientNames);
  const rate = checkRange('rate', options.rate, 1, 500, 'requests per second') ?? labDefaults.rate;
  const duration = checkRange('duration', options.duration, 4, 120, 'seconds') ?? null;
  const timeout = checkRange('timeout', options.timeout, 1, 120, 'seconds') ?? labDefaults.timeout;
  const report = options.report ?? false;
  if (report !== false && (typeof report !== 'string' || report.length === 0)) {
    throw new TypeError('ridethrough-lab: option "report" must be a file path or false');
  }
  const progress = options.progress ?? false;
  if (progress !== false && (typeof progress !== 'object' || typeof progress.write !== 'function')) {
    throw new TypeError('ridethrough-lab: option "progress" must be a writable stream or false');
  }
  if (options.signal !== undefined && !(options.signal instanceof AbortSignal)) {
    throw new TypeError('ridethrough-lab: option "signal" must be an AbortSignal');
  }
  return { scenarios, clients, rate, duration, timeout, report, progress, signal: options.signal };
}

function pickNames<T extends string>(what: string, given: readonly string[] | undefined, all: readonly T[], byDefault: readonly T[]): T[] {
  if (given === undefined) return [...byDefault];
  if (!Array.isArray(given) || given.some((n) => typeof n !== 'string')) {
    throw new TypeError(`ridethrough-lab: option "${what}s" must be an array of names (${all.join(', ')})`);
  }
  if (given.length === 0) throw new RangeError(`ridethrough-lab: no ${what} given; pick from ${all.join(', ')}`);
  const unknown = given.filter((n) => !(all as readonly string[]).includes(n));
  if (unknown.length > 0) {
    throw new RangeError(
      `ridethrough-lab: unknown ${what}${unknown.length > 1 ? 's' : ''} ${unknown.map((n) => JSON.stringify(n)).join(', ')}; pick from ${all.join(', ')}`,
    );
  }
  return all.filter((n) => given.includes(n));
}

function checkRange(name: string, value: unknown, min: number, max: number, unit: string): number | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'number' || !Number.isFinite(value)) {
    throw new TypeError(`ridethrough-lab: option "${name}" must be a number of ${unit} from ${min} to ${max}, got ${JSON.stringify(value) ?? String(value)}`);
  }
  if (value < min || value > max) {
    throw new RangeError(`ridethrough-lab: option "${name}" must be a number of ${unit} from ${min} to ${max}, got ${value}`);
  }
  return value;
}
