/**
 * OpenTelemetry for ridethrough: one logical span per request with its attempts nested under it, and
 * metrics named after the HTTP client semantic conventions. `@opentelemetry/api` is an optional peer
 * dependency: nothing here is loaded unless this entry is imported.
 * @packageDocumentation
 */
export {};
