/**
 * What the lab needs from an HTTP client under test.
 * @module
 */
import type { ClientName } from '../types.js';

/** One request of the schedule, as handed to a client. */
export interface LabRequest {
  /** Full URL, with the service's DNS name. */
  readonly url: string;
  /** GET, or POST with {@link LabRequest.body}. */
  readonly method: 'GET' | 'POST';
  /** Request headers (request id, client name, content type). */
  readonly headers: Readonly<Record<string, string>>;
  /** JSON body of a POST. */
  readonly body?: string;
  /** Aborts the request when the lab stops waiting for it. */
  readonly signal: AbortSignal;
}

/** What a client got back. */
export interface LabResponse {
  /** HTTP status. */
  readonly status: number;
  /** The `x-pod` response header: which pod answered. */
  readonly pod: string | undefined;
}

/** A client set up for one scenario. */
export interface LabClient {
  /** Sends a request and reads the whole response body. Rejects with the client's own error. */
  send(request: LabRequest): Promise<LabResponse>;
  /** Releases connections, caches and timers. */
  close(): Promise<void>;
  /** Retries made so far (attempts beyond each request's first), for clients that can tell. */
  retries?(): number;
}

/** What a client needs from the lab to be set up. */
export interface ClientEnvironment {
  /** The lab DNS server, `ip:port`. Clients must resolve through it only. */
  readonly dnsServer: string;
  /** The lab's Kubernetes API double (URL and bearer token), in scenarios that run one. */
  readonly kubeApi?: { readonly url: string; readonly token: string };
}

/** A client the lab can compare. */
export interface ClientDefinition {
  /** Its name in tables and options. */
  readonly name: ClientName;
  /** What it is and which of its defaults matter. */
  readonly description: string;
  /** How it resolves the lab's names. */
  readonly resolution: string;
  /**
   * Loads the client's packages. Resolves to a factory, or to a reason when the client cannot run
   * here (for example its package is not installed).
   */
  load(): Promise<((env: ClientEnvironment) => LabClient) | { unavailable: string }>;
}

/**
 * Imports a client's package, which may be missing (an install with `--omit` or a partial one).
 * The specifier is not a literal so bundlers leave it alone.
 * @returns the module, or `undefined` when it is not installed
 */
export async function importOptional<T>(name: string): Promise<T | undefined> {
  try {
    return (await import(name)) as T;
  } catch (err) {
    const code = (err as { code?: unknown }).code;
    if (code === 'ERR_MODULE_NOT_FOUND' || code === 'MODULE_NOT_FOUND') return undefined;
    throw err;
  }
}
