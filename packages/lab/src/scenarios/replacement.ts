/**
 * The shape shared by `move`, `post-move`, `node-death`, `replica-loss` and `replica-blackhole`:
 * one pod of a service is lost and replaced at a new address; DNS follows late.
 * @module
 */
import type { LabPod } from '@ridethrough/testbed';
import type { ScenarioName } from '../types.js';
import { at, phases, recordTtl, seconds, type ScenarioDefinition } from './types.js';

/** What a replacement scenario states itself; everything else is shared. */
export interface ReplacementSpec {
  /** The scenario's name. */
  readonly name: ScenarioName;
  /** One-line title. */
  readonly title: string;
  /** What it reproduces and what to look for. */
  readonly summary: string;
  /** The method of every request. */
  readonly method: 'GET' | 'POST';
  /** How many replicas the service has; the lost one is the middle one (`inventory-1` of 1, `inventory-2` of 3). */
  readonly replicas: 1 | 3;
  /**
   * How the lost pod fails: `refuse` stops it (its address refuses connections; the new pod
   * starts first), `blackhole` drops every packet to its address (needs root; the new pod starts after).
   */
  readonly fault: 'refuse' | 'blackhole';
  /** The label of the fault's event on the report's charts. */
  readonly label: string;
  /** The timeline's words for the moment of the fault. */
  readonly faultText: string;
  /** The timeline's words after the DNS lag when DNS catches up, e.g. `later`. */
  readonly dnsNote: string;
}

/** Builds a scenario in which one pod is lost and replaced at a new address, and DNS lags the change. */
export function replacementScenario(spec: ReplacementSpec): ScenarioDefinition {
  const { replicas, fault } = spec;
  const lost = (replicas - 1) / 2;
  return {
    name: spec.name,
    title: spec.title,
    summary: spec.summary,
    method: spec.method,
    needsRoot: fault === 'blackhole',
    defaultDurationMs: 5_000,
    timing(d, host) {
      const { warm, lag } = phases(d);
      const before =
        replicas === 1
          ? `one pod, inventory-1, behind ${host} (A record, TTL ${recordTtl} s)`
          : `inventory-1..3 behind ${host} (3 A records in rotating order, TTL ${recordTtl} s)`;
      const after = replicas === 1 ? 'inventory-2' : 'inventory-1, inventory-3, inventory-4';
      return [
        at(0, `${before}; traffic starts`),
        at(warm, spec.faultText),
        at(warm + lag, `DNS answers ${after} (${seconds(lag)} ${spec.dnsNote})`),
        at(d, 'traffic stops; the lab waits for requests still in flight'),
      ];
    },
    async setup(ctx) {
      const { warm, lag } = phases(ctx.durationMs);
      const pods: LabPod[] = [];
      for (let i = 0; i < replicas; i++) pods.push(await ctx.startPod());
      ctx.publish(pods);
      const old = pods[lost]!;
      const survivors = pods.filter((pod) => pod !== old);
      let next: LabPod | undefined;
      ctx.at(warm, { kind: fault === 'refuse' ? 'pod' : 'fault', label: spec.label }, async () => {
        if (fault === 'refuse') {
          next = await ctx.startPod();
          // stop() refuses new connections before its first await.
          const stopped = old.stop();
          ctx.lost(old);
          await stopped;
        } else {
          await ctx.firewall!.blackhole(old.address);
          ctx.lost(old);
          next = await ctx.startPod();
        }
      });
      ctx.at(warm + lag, { kind: 'dns', label: 'DNS updated' }, () => ctx.publish([...survivors, next!]));
    },
  };
}
