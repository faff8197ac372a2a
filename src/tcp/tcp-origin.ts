import type { ParsedOrigin } from '../core/origin.js';
import { urlHost } from '../core/origin.js';

/**
 * The endpoint-state key of a TCP destination: `tcp://host:port`, or `tcp://host` for a `lookup`,
 * which never learns the port. Endpoint health is kept per key, apart from the HTTP origins.
 * @internal
 */
export function tcpOrigin(hostname: string, port?: number): ParsedOrigin {
  const name = hostname.startsWith('[') && hostname.endsWith(']') ? hostname.slice(1, -1) : hostname;
  const host = port === undefined ? urlHost(name) : `${urlHost(name)}:${port}`;
  return { protocol: 'tcp:', hostname: name, port: port ?? 0, host, key: `tcp://${host.toLowerCase()}` };
}
