/**
 * The attribute and metric names `ridethrough/otel` records (docs/observability.md has the table).
 * Strings here, not `@opentelemetry/semantic-conventions`: `@opentelemetry/api` is the only peer.
 */

/** HTTP client, network and DNS semantic-convention attributes. @internal */
export const semconv = {
  method: 'http.request.method',
  methodOriginal: 'http.request.method_original',
  status: 'http.response.status_code',
  resendCount: 'http.request.resend_count',
  serverAddress: 'server.address',
  serverPort: 'server.port',
  urlFull: 'url.full',
  urlScheme: 'url.scheme',
  errorType: 'error.type',
  peerAddress: 'network.peer.address',
  peerPort: 'network.peer.port',
  networkTransport: 'network.transport',
  dnsQuestion: 'dns.question.name',
} as const;

/** ridethrough's own attributes. @internal */
export const attr = {
  attempts: 'ridethrough.attempts',
  attempt: 'ridethrough.attempt',
  endpoint: 'ridethrough.endpoint',
  giveUpCode: 'ridethrough.give_up.code',
  outcome: 'ridethrough.attempt.outcome',
  hedge: 'ridethrough.attempt.hedge',
  retryReason: 'ridethrough.retry.reason',
  delayMs: 'ridethrough.delay_ms',
  hedgeReason: 'ridethrough.hedge.reason',
  ejectionReason: 'ridethrough.ejection.reason',
  ejectedForMs: 'ridethrough.ejection.duration_ms',
  breakerState: 'ridethrough.breaker.state',
  endpointState: 'ridethrough.endpoint.state',
  staleAgeMs: 'ridethrough.dns.stale_age_ms',
} as const;

/** Metric names, one table in docs/observability.md. @internal */
export const metricNames = {
  requestDuration: 'ridethrough.request.duration',
  attempts: 'ridethrough.attempts',
  retries: 'ridethrough.retries',
  giveUps: 'ridethrough.give_ups',
  budgetRefusals: 'ridethrough.retry_budget.refusals',
  ejections: 'ridethrough.endpoint.ejections',
  breakerTransitions: 'ridethrough.breaker.transitions',
  staleAnswers: 'ridethrough.dns.stale_answers',
  dnsDuration: 'dns.lookup.duration',
  breakerState: 'ridethrough.breaker.state',
  budgetAvailable: 'ridethrough.retry_budget.available',
  endpoints: 'ridethrough.endpoints',
  waiting: 'ridethrough.requests.waiting',
} as const;

/** Span event names. @internal */
export const eventNames = {
  retry: 'ridethrough.retry',
  hedge: 'ridethrough.hedge',
  wait: 'ridethrough.wait',
  ejected: 'ridethrough.endpoint.ejected',
  stale: 'ridethrough.dns.stale',
  breaker: 'ridethrough.breaker',
} as const;

/** The semantic conventions' bucket boundaries for HTTP and DNS durations, in seconds. @internal */
export const durationBuckets = [0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 7.5, 10];

const knownMethods = new Set(['CONNECT', 'DELETE', 'GET', 'HEAD', 'OPTIONS', 'PATCH', 'POST', 'PUT', 'QUERY', 'TRACE']);

/** The method as the conventions want it: a known method, or `_OTHER` (bounded cardinality). @internal */
export function methodAttribute(method: string): string {
  return knownMethods.has(method) ? method : '_OTHER';
}

/** The low-cardinality `error.type` of an error: a ridethrough code, else the error's code or name. @internal */
export function errorType(error: Error): string {
  const code = (error as { code?: unknown }).code;
  return typeof code === 'string' && code !== '' ? code : error.name || 'Error';
}

/** The code of a ridethrough give-up, found by shape so errors from another copy of ridethrough count too. @internal */
export function giveUpCode(error: Error): string | undefined {
  const code = (error as { code?: unknown }).code;
  return typeof code === 'string' && code.startsWith('RIDETHROUGH_') ? code : undefined;
}

/** Whether an error is a cancellation (the conventions record those without error status), as undici's instrumentation decides. @internal */
export function isAbort(error: Error): boolean {
  return error.name === 'AbortError' || (error instanceof DOMException && error.code === DOMException.ABORT_ERR);
}

/** Origin keys (`protocol//host:port`) to metric attributes, memoised and bounded. @internal */
export class OriginAttributes {
  private readonly cache = new Map<string, Readonly<Record<string, string | number>>>();

  /** `server.address`, `server.port` and `url.scheme` of an origin key. */
  of(origin: string): Readonly<Record<string, string | number>> {
    let hit = this.cache.get(origin);
    if (hit === undefined) {
      hit = parse(origin);
      if (this.cache.size >= 1_000) this.cache.clear();
      this.cache.set(origin, hit);
    }
    return hit;
  }
}

function parse(origin: string): Readonly<Record<string, string | number>> {
  try {
    const url = new URL(origin);
    const scheme = url.protocol.slice(0, -1);
    const port = url.port === '' ? (scheme === 'https' ? 443 : 80) : Number(url.port);
    const hostname = url.hostname.startsWith('[') ? url.hostname.slice(1, -1) : url.hostname;
    return { [semconv.serverAddress]: hostname, [semconv.serverPort]: port, [semconv.urlScheme]: scheme };
  } catch {
    return { [semconv.serverAddress]: origin };
  }
}
