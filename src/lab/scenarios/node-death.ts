/**
 * `node-death`: a single-replica service's node dies; its address goes silent.
 * @module
 */
import { at, phases, recordTtl, seconds, type ScenarioDefinition } from './types.js';

/** `node-death` (root): the old pod's address is blackholed instead of refusing. */
export const nodeDeath: ScenarioDefinition = {
  name: 'node-death',
  title: 'The node dies: the old address goes silent',
  summary:
    'As a move, but the old pod sits on a node that died: packets to its address are dropped (iptables DROP), so connects hang instead of being refused and requests on pooled keep-alive connections never get an answer. Clients without short connect and response timeouts hang for seconds or minutes.',
  method: 'GET',
  needsRoot: true,
  defaultDurationMs: 5_000,
  timing(d, host) {
    const { warm, lag } = phases(d);
    return [
      at(0, `one pod, inventory-1, behind ${host} (A record, TTL ${recordTtl} s); traffic starts`),
      at(warm, "inventory-1's address is blackholed (every packet to it dropped); inventory-2 is up at a new address"),
      at(warm + lag, `DNS answers inventory-2 (${seconds(lag)} later; in a real cluster the node is noticed only after ~40 s)`),
      at(d, 'traffic stops; the lab waits for requests still in flight'),
    ];
  },
  async setup(ctx) {
    const { warm, lag } = phases(ctx.durationMs);
    const old = await ctx.startPod();
    ctx.publish([old]);
    let next: Awaited<ReturnType<typeof ctx.startPod>> | undefined;
    ctx.at(warm, { kind: 'fault', label: 'node died' }, async () => {
      await ctx.firewall!.blackhole(old.address);
      next = await ctx.startPod();
    });
    ctx.at(warm + lag, { kind: 'dns', label: 'DNS updated' }, () => ctx.publish([next!]));
  },
};
