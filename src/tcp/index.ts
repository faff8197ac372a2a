/**
 * TCP side of ridethrough: resilient connects and a Node `lookup` for any client.
 * @module
 */
export { resilientConnect } from './resilient-connect.js';
export type { ResilientConnectOptions } from './connect-options.js';
export { createResilientLookup, type LookupCallback, type ResilientLookup, type ResilientLookupOptions } from './lookup.js';
export { watchSocket, type ConnectReporter } from './watch-socket.js';
export { lookupSocket } from './lookup-socket.js';
export type { ContextSettings } from './shared-context.js';
