import { request } from 'undici';
import { afterEach } from 'vitest';
import { ResilientAgent } from '../../../src/http/agent.js';
import type { OriginStats } from '../../../src/core/context.js';
import type { ResilienceOptions } from '../../../src/core/options.js';
import type { EndpointStats } from '../../../src/endpoints/endpoint.js';
import { Cluster, type ConnectionRecorder, recordConnections } from '../../support/cluster.js';

/** The filter chain these tests own (jumped to from INPUT). */
export const HEALTH_CHAIN = 'RT-TEST-HEALTH';
/** The nat chain these tests own (jumped to from nat OUTPUT). */
export const HEALTH_NAT_CHAIN = 'RT-TEST-HEALTH-NAT';

/** A response read to the end. */
export interface Got {
  readonly status: number;
  readonly body: string;
}

/**
 * An agent resolving through the cluster's DNS server only (IPv4, no hosts file), torn down with the
 * cluster. Destroyed rather than closed: a test may leave connections to a blackholed pod behind.
 */
export function agentFor(c: Cluster, options: ResilienceOptions = {}): ResilientAgent {
  const agent = new ResilientAgent({ ...options, dns: c.dnsOptions({ family: 4, hostsFile: false, ...options.dns }) });
  c.defer(() => agent.destroy());
  return agent;
}

/**
 * Registers an `afterEach` that closes the cluster of the current test and returns `start()`, which
 * starts a fresh {@link Cluster} with its DNS server on `dnsAddress`. Call it at the top level of a
 * test file.
 */
export function useCluster(dnsAddress: string): () => Promise<Cluster> {
  let cluster: Cluster | undefined;
  afterEach(async () => {
    await cluster?.close();
    cluster = undefined;
  });
  return async () => {
    cluster = await Cluster.start(dnsAddress);
    return cluster;
  };
}

/** Sends a request through `agent` and reads the whole body. */
export async function send(
  agent: ResilientAgent,
  url: string,
  options: Omit<Parameters<typeof request>[1] & object, 'dispatcher'> & { ridethrough?: unknown } = {},
): Promise<Got> {
  const res = await request(url, { ...options, dispatcher: agent } as Parameters<typeof request>[1]);
  return { status: res.statusCode, body: await res.body.text() };
}

export { rejection } from '../../support/scope.js';

/** The stats of `origin` (`http://host:port`); throws when the agent has none. */
export function originStats(agent: ResilientAgent, origin: string): OriginStats {
  const s = agent.stats[origin];
  if (!s) throw new Error(`no stats for ${origin}; have ${Object.keys(agent.stats).join(', ')}`);
  return s;
}

/** The stats of one endpoint address of `origin`. */
export function endpointStats(agent: ResilientAgent, origin: string, address: string): EndpointStats {
  const e = originStats(agent, origin).endpoints.find((x) => x.address === address);
  if (!e) throw new Error(`no endpoint ${address} in stats of ${origin}`);
  return e;
}

/** Counts TCP connection attempts per target address while the test runs. */
export function recordConnects(c: Cluster): ConnectionRecorder {
  const recorder = recordConnections();
  c.defer(() => recorder.stop());
  return recorder;
}
