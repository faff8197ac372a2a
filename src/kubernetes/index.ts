/**
 * Endpoints straight from the Kubernetes API (EndpointSlices), opt-in, with DNS as the fallback.
 * @packageDocumentation
 */
export {};
