/**
 * Configuration from the environment, read once at start-up. Every service of the shop reads the
 * same few variables; each service adds its own (the URLs of the services it calls).
 *
 * A value that does not parse stops the process at start, with a message naming the variable:
 * a pod that crash-loops on a typo is easier to see than one that runs with a wrong setting.
 */

/** Settings every service shares. */
export interface CommonConfig {
  /** Service name, used in logs. */
  readonly service: string;
  /** Pod name (Kubernetes downward API `metadata.name`), or the service name. */
  readonly pod: string;
  /** Address to listen on. `HOST`, default `0.0.0.0` (all interfaces, as in a container). */
  readonly host: string;
  /** Port to listen on. `PORT`, default 8080. */
  readonly port: number;
  /** `RIDETHROUGH=off` makes outgoing calls with plain fetch (for comparison); default on. */
  readonly ridethrough: boolean;
  /**
   * `KUBERNETES_ENDPOINTS=on` takes the endpoints of in-cluster Services from the EndpointSlice API
   * (`ridethrough/kubernetes`; needs RBAC, see examples/k8s/rbac.yaml), DNS for everything else; default off.
   */
  readonly kubernetesEndpoints: boolean;
  /**
   * DNS servers (`DNS_SERVERS`, comma separated `ip:port`). Unset in a cluster: the pod's
   * /etc/resolv.conf is used. The local run points it at the lab's DNS server.
   */
  readonly dnsServers: readonly string[] | undefined;
  /** Search domains (`DNS_SEARCH`, comma separated; set but empty means none). Unset: resolv.conf's. */
  readonly dnsSearch: readonly string[] | undefined;
  /** Overall deadline of an outgoing call, in ms (`UPSTREAM_DEADLINE_MS`, default 10000). */
  readonly upstreamDeadlineMs: number;
  /**
   * After SIGTERM, how long to keep serving while reporting unready (`SHUTDOWN_DELAY_MS`, default 0).
   * In Kubernetes the preStop sleep does this job; set it when there is no preStop hook.
   */
  readonly shutdownDelayMs: number;
  /** Longest wait for in-flight requests after SIGTERM before connections are cut (`SHUTDOWN_TIMEOUT_MS`, default 20000). */
  readonly shutdownTimeoutMs: number;
  /** `LOG_LEVEL`: `debug`, `info` (default), `warn` or `error`. */
  readonly logLevel: LogLevelName;
}

/** Log levels, lowest first. */
export type LogLevelName = 'debug' | 'info' | 'warn' | 'error';

const levels: readonly LogLevelName[] = ['debug', 'info', 'warn', 'error'];

/** Reads a string variable, or `fallback` when unset or empty. */
export function envString(name: string, fallback: string): string {
  const v = process.env[name];
  return v === undefined || v === '' ? fallback : v;
}

/** Reads a required string variable. */
export function envRequired(name: string): string {
  const v = process.env[name];
  if (v === undefined || v === '') throw new Error(`config: environment variable ${name} is required`);
  return v;
}

/** Reads an integer variable within `[min, max]`, or `fallback` when unset. */
export function envInt(name: string, fallback: number, min = 0, max = Number.MAX_SAFE_INTEGER): number {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < min || n > max) {
    throw new Error(`config: environment variable ${name} must be an integer from ${min} to ${max}, got "${raw}"`);
  }
  return n;
}

/** Reads a comma-separated list; `undefined` when unset, `[]` when set but empty. */
export function envList(name: string): string[] | undefined {
  const raw = process.env[name];
  if (raw === undefined) return undefined;
  return raw
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
}

/** Reads the settings every service shares. */
export function commonConfig(service: string): CommonConfig {
  const mode = envString('RIDETHROUGH', 'on').toLowerCase();
  if (!['on', 'off', '1', '0', 'true', 'false'].includes(mode)) {
    throw new Error(`config: RIDETHROUGH must be "on" or "off", got "${mode}"`);
  }
  const endpoints = envString('KUBERNETES_ENDPOINTS', 'off').toLowerCase();
  if (!['on', 'off', '1', '0', 'true', 'false'].includes(endpoints)) {
    throw new Error(`config: KUBERNETES_ENDPOINTS must be "on" or "off", got "${endpoints}"`);
  }
  const logLevel = envString('LOG_LEVEL', 'info') as LogLevelName;
  if (!levels.includes(logLevel)) throw new Error(`config: LOG_LEVEL must be one of ${levels.join(', ')}, got "${logLevel}"`);
  return {
    service,
    pod: envString('POD_NAME', service),
    host: envString('HOST', '0.0.0.0'),
    port: envInt('PORT', 8080, 1, 65_535),
    ridethrough: mode === 'on' || mode === '1' || mode === 'true',
    kubernetesEndpoints: endpoints === 'on' || endpoints === '1' || endpoints === 'true',
    dnsServers: envList('DNS_SERVERS'),
    dnsSearch: envList('DNS_SEARCH'),
    upstreamDeadlineMs: envInt('UPSTREAM_DEADLINE_MS', 10_000, 1, 3_600_000),
    shutdownDelayMs: envInt('SHUTDOWN_DELAY_MS', 0, 0, 600_000),
    shutdownTimeoutMs: envInt('SHUTDOWN_TIMEOUT_MS', 20_000, 0, 600_000),
    logLevel,
  };
}
