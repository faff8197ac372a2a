import { promises as dnsPromises, type LookupAddress } from 'node:dns';
import type { LookupFunction } from 'node:net';
import { createResilientFetch, type DnsOptions, type RequestOverrides, RidethroughError, ResilientAgent } from 'ridethrough';
import { kubernetesEndpoints } from 'ridethrough/kubernetes';
import { Agent, fetch as undiciFetch } from 'undici';
import type { CommonConfig } from './config.js';
import { describeError } from './log.js';

/** The part of a fetch request the shop uses. */
export interface UpstreamInit {
  readonly method?: string;
  readonly headers?: Record<string, string>;
  readonly body?: string;
  /** ridethrough's per-request overrides (ignored by plain fetch). */
  readonly ridethrough?: RequestOverrides;
}

/** The part of a fetch response the shop uses. */
export interface UpstreamResponse {
  readonly status: number;
  readonly headers: { get(name: string): string | null };
  json(): Promise<unknown>;
  text(): Promise<string>;
}

/** How a service calls the services it depends on. */
export interface Upstream {
  /** `fetch`, resilient or plain depending on `RIDETHROUGH`. */
  fetch(url: string, init?: UpstreamInit): Promise<UpstreamResponse>;
  /** Endpoint health per origin (ridethrough only; empty for plain fetch). */
  stats(): unknown;
  /** Closes the connection pools (after in-flight calls finish). */
  close(): Promise<void>;
}

/** ridethrough's DNS options from the service configuration: the cluster's resolv.conf unless overridden. */
export function dnsOptionsFrom(config: CommonConfig): DnsOptions {
  return {
    ...(config.dnsServers ? { servers: config.dnsServers } : {}),
    ...(config.dnsSearch ? { search: config.dnsSearch } : {}),
  };
}

/**
 * The client the services use for each other.
 *
 * With ridethrough (the default) this is the whole integration: one {@link ResilientAgent} per process
 * and a `fetch` bound to it. Calls get a short-TTL DNS cache with re-resolution on failure, one
 * connection pool per pod IP, and retries on another pod within `UPSTREAM_DEADLINE_MS`.
 *
 * With `RIDETHROUGH=off` it is undici's plain `fetch` with a plain `Agent`: what most services run
 * today. Locally, host names are resolved through `DNS_SERVERS` by a lookup that behaves like
 * getaddrinfo (no cache, no TTL, every address, first one first), so the comparison is fair and the
 * machine's own resolver is never asked.
 */
export function createUpstream(config: CommonConfig): Upstream {
  if (config.ridethrough) {
    const agent = new ResilientAgent({
      deadline: config.upstreamDeadlineMs,
      dns: dnsOptionsFrom(config),
      // KUBERNETES_ENDPOINTS=on: endpoints from the EndpointSlice API for in-cluster Services (DNS as the fallback).
      ...(config.kubernetesEndpoints ? { discovery: kubernetesEndpoints() } : {}),
    });
    const resilient = createResilientFetch({ agent });
    return {
      fetch: (url, init) => resilient(url, init),
      stats: () => agent.stats,
      close: () => agent.close(),
    };
  }
  const agent = new Agent(config.dnsServers ? { connect: { lookup: serverLookup(config.dnsServers) } } : {});
  return {
    fetch: (url, init) => {
      const { ridethrough: _ignored, ...rest } = init ?? {};
      return undiciFetch(url, { ...rest, dispatcher: agent, signal: AbortSignal.timeout(config.upstreamDeadlineMs) });
    },
    stats: () => [],
    close: () => agent.close(),
  };
}

/**
 * A `net` lookup that asks the given DNS servers for A records, every time (like getaddrinfo without
 * nscd: no cache, no TTL). Used for the `RIDETHROUGH=off` comparison only.
 */
export function serverLookup(servers: readonly string[]): LookupFunction {
  const resolver = new dnsPromises.Resolver({ timeout: 1_000, tries: 2 });
  resolver.setServers([...servers]);
  return (hostname, options, callback) => {
    resolver.resolve4(hostname).then(
      (addresses) => {
        const all: LookupAddress[] = addresses.map((address) => ({ address, family: 4 }));
        if (options.all) (callback as (err: null, addresses: LookupAddress[]) => void)(null, all);
        else callback(null, all[0]!.address, 4);
      },
      (err: unknown) => {
        const code = (err as { code?: string }).code === 'ENODATA' ? 'ENOTFOUND' : ((err as { code?: string }).code ?? 'ENOTFOUND');
        callback(Object.assign(new Error(`lookup ${hostname}: ${code}`), { code, hostname }), '', 4);
      },
    );
  };
}

/** What went wrong on an upstream call, for a 502 body and the log: ridethrough's code, or the socket error's. */
export function upstreamFailure(err: unknown): { code: string; message: string; attempts?: number } {
  if (err instanceof RidethroughError) return { code: err.code, message: err.message, attempts: err.attempts.length };
  const d = describeError(err);
  const cause = d.cause as { code?: string; message?: string } | undefined;
  return { code: cause?.code ?? (d.code as string | undefined) ?? String(d.name ?? 'Error'), message: cause?.message ?? String(d.message) };
}
