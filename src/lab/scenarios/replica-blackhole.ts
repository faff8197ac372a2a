/**
 * `replica-blackhole`: one of three replicas goes silent.
 * @module
 */
import { at, phases, recordTtl, seconds, type ScenarioDefinition } from './types.js';

/** `replica-blackhole` (root): one replica of three is blackholed, DNS drops it late. */
export const replicaBlackhole: ScenarioDefinition = {
  name: 'replica-blackhole',
  title: 'One replica of three goes silent (its node died)',
  summary:
    'Three replicas; the node under one of them dies, so its address drops every packet. Requests on connections already open to it hang; new connections to it time out. Short connect and response timeouts plus a retry on another replica hide it; default timeouts do not.',
  method: 'GET',
  needsRoot: true,
  defaultDurationMs: 5_000,
  timing(d, host) {
    const { warm, lag } = phases(d);
    return [
      at(0, `inventory-1..3 behind ${host} (3 A records in rotating order, TTL ${recordTtl} s); traffic starts`),
      at(warm, "inventory-2's address is blackholed; inventory-4 is up at a new address"),
      at(warm + lag, `DNS answers inventory-1, inventory-3, inventory-4 (${seconds(lag)} later)`),
      at(d, 'traffic stops; the lab waits for requests still in flight'),
    ];
  },
  async setup(ctx) {
    const { warm, lag } = phases(ctx.durationMs);
    const [a, b, c] = [await ctx.startPod(), await ctx.startPod(), await ctx.startPod()];
    ctx.publish([a, b, c]);
    let d: Awaited<ReturnType<typeof ctx.startPod>> | undefined;
    ctx.at(warm, { kind: 'fault', label: 'replica blackholed' }, async () => {
      await ctx.firewall!.blackhole(b.address);
      d = await ctx.startPod();
    });
    ctx.at(warm + lag, { kind: 'dns', label: 'DNS updated' }, () => ctx.publish([a, c, d!]));
  },
};
