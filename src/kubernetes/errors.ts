/**
 * The Kubernetes API refused or failed a call of the EndpointSlice watch. Never reaches a request (DNS
 * serves the host meanwhile); it is what `ridethrough:discovery:state` events and stats report.
 */
export class KubernetesApiError extends Error {
  /** Stable code. */
  readonly code = 'RIDETHROUGH_KUBERNETES_API';
  /** The HTTP status (or the `code` of a watch ERROR event), 0 when the call failed before any response. */
  readonly status: number;
  /** The API's `reason` (`Expired`, `Gone`, `Forbidden`, ...), or the network error's code. */
  readonly reason: string;

  /**
   * @param status - HTTP status or Status code, 0 for network errors
   * @param reason - the API's reason or the error code
   * @param message - what failed
   * @param options - the underlying error
   */
  constructor(status: number, reason: string, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'KubernetesApiError';
    this.status = status;
    this.reason = reason;
  }

  /** `HTTP <status>`, `Gone`, or the network error code: short, for events and stats. */
  get summary(): string {
    if (this.status === 410) return 'Gone';
    return this.status > 0 ? `HTTP ${this.status}` : this.reason;
  }
}
