import { isIP } from 'node:net';
import type { ResolvedAddress } from '../resolve/dns-cache.js';

/** The part of a discovery.k8s.io/v1 EndpointSlice the resolver reads. @internal */
export interface EndpointSlice {
  readonly metadata: { readonly name: string; readonly resourceVersion?: string; readonly annotations?: Readonly<Record<string, string>> };
  readonly addressType: string;
  readonly endpoints?: readonly SliceEndpoint[] | null;
  readonly ports?: readonly SlicePort[] | null;
}

/** One endpoint of a slice. @internal */
export interface SliceEndpoint {
  readonly addresses: readonly string[];
  readonly conditions?: { readonly ready?: boolean | null; readonly serving?: boolean | null; readonly terminating?: boolean | null } | null;
}

/** One port of a slice. @internal */
export interface SlicePort {
  readonly name?: string | null;
  readonly port?: number | null;
  readonly protocol?: string | null;
}

/** The annotation the EndpointSlice controller sets to the time of the change that triggered the update. */
export const triggerTimeAnnotation = 'endpoints.kubernetes.io/last-change-trigger-time';

/** Whether a JSON value looks like an EndpointSlice. @internal */
export function isEndpointSlice(value: unknown): value is EndpointSlice {
  const v = value as EndpointSlice | null;
  return v !== null && typeof v === 'object' && typeof v.metadata?.name === 'string' && typeof v.addressType === 'string';
}

/** How a request's port maps onto slice ports. @internal */
export type PortRule = { readonly name: string } | { readonly requestPort: number };

/**
 * The port a slice's endpoints take requests on under a rule: the port named `name`; or the TCP port
 * whose number is the request's, else the slice's only TCP port. A slice without ports (`ports` unset:
 * not restricted) takes the request's port. undefined: no port of this slice matches.
 */
export function slicePort(slice: EndpointSlice, rule: PortRule): number | undefined {
  if (slice.ports == null) return 'requestPort' in rule ? rule.requestPort : undefined;
  const tcp = slice.ports.filter((p) => (p.protocol ?? 'TCP') === 'TCP');
  if ('name' in rule) {
    const named = tcp.find((p) => (p.name ?? '') === rule.name);
    return named === undefined ? undefined : (named.port ?? undefined);
  }
  const same = tcp.find((p) => p.port === rule.requestPort);
  if (same) return rule.requestPort;
  return tcp.length === 1 ? (tcp[0]!.port ?? rule.requestPort) : undefined;
}

/** The addresses of a Service's slices under a port rule: merged (IPv4 and IPv6 slices alike), IPv4 first. @internal */
export interface MergedEndpoints {
  readonly addresses: readonly ResolvedAddress[];
  /** Slices none of whose ports matched the rule (their endpoints are left out). */
  readonly unmatched: number;
}

/**
 * Merges a Service's slices: the endpoints that are ready (new requests), and those terminating but
 * still serving (in-flight requests, or the fallback when nothing else is left). An address listed twice
 * (a slice reshuffle in progress) counts once, ready over terminating. Not serving: left out.
 * @internal
 */
export function mergeSlices(slices: Iterable<EndpointSlice>, rule: PortRule): MergedEndpoints {
  const byAddress = new Map<string, ResolvedAddress>();
  let unmatched = 0;
  for (const slice of slices) {
    if (slice.addressType !== 'IPv4' && slice.addressType !== 'IPv6') continue;
    const port = slicePort(slice, rule);
    if (port === undefined) {
      if ((slice.endpoints?.length ?? 0) > 0) unmatched++;
      continue;
    }
    for (const e of slice.endpoints ?? []) {
      const address = e.addresses?.[0];
      const family = address === undefined ? 0 : isIP(address);
      if (address === undefined || family === 0) continue;
      // API semantics: ready unset means ready; serving unset defers to ready; terminating unset means not terminating.
      const ready = e.conditions?.ready ?? true;
      const serving = e.conditions?.serving ?? ready;
      const terminating = e.conditions?.terminating ?? false;
      const usable = ready && !terminating;
      if (!usable && !(serving && terminating)) continue;
      const known = byAddress.get(address);
      if (known !== undefined && known.terminating !== true) continue;
      byAddress.set(address, usable ? { address, family: family as 4 | 6, port } : { address, family: family as 4 | 6, port, terminating: true });
    }
  }
  const addresses = [...byAddress.values()].sort((a, b) => a.family - b.family);
  return { addresses, unmatched };
}

/** Whether two address lists are the same (addresses, ports and conditions, in order). @internal */
export function sameEndpoints(a: readonly ResolvedAddress[], b: readonly ResolvedAddress[]): boolean {
  return (
    a.length === b.length &&
    a.every((x, i) => x.address === b[i]!.address && x.port === b[i]!.port && (x.terminating === true) === (b[i]!.terminating === true))
  );
}
