/**
 * OpenTelemetry for ridethrough: one logical span per request with its attempts nested under it, and
 * metrics named after the HTTP client semantic conventions (docs/observability.md). `@opentelemetry/api`
 * is an optional peer dependency: nothing here is loaded unless this entry is imported.
 * @packageDocumentation
 */
export { instrumentRidethrough, type RidethroughInstrumentation, type RidethroughInstrumentationOptions, type StatsSource } from './instrument.js';
export { ridethroughAttemptAttributes, type UndiciInstrumentationLike } from './undici-hook.js';
