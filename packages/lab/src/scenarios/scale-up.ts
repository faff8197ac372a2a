/**
 * `scale-up`: a ClusterIP-like virtual address over 2, then 6 pods.
 * @module
 */
import { at, recordTtl, ScenarioSkip, type ScenarioDefinition, type ScenarioContext } from './types.js';

/** Checks the DNAT works here (turning on route_localnet if needed); skips with the reason otherwise. */
async function checkDnat(ctx: ScenarioContext, vip: string): Promise<void> {
  try {
    await ctx.firewall!.verifyBalance(vip, ctx.port);
  } catch (err) {
    throw new ScenarioSkip(`iptables DNAT to a loopback pod does not deliver connections on this kernel: ${(err as Error).message.split('\n')[0]}`);
  }
}

/** `scale-up` (root): how traffic spreads when a ClusterIP service scales from 2 to 6 pods. */
export const scaleUp: ScenarioDefinition = {
  name: 'scale-up',
  title: 'Scale-up behind a ClusterIP: do new pods get traffic?',
  summary:
    "The service has a ClusterIP-like virtual address: iptables DNAT picks a pod at random for each new connection (kube-proxy's iptables mode). It scales from 2 to 6 pods. Connections already open stay on their pod (conntrack), so a client holding keep-alive connections keeps loading the first two pods; only new connections reach the new ones. The chart shows where each client's requests went.",
  method: 'GET',
  needsRoot: true,
  defaultDurationMs: 5_000,
  timing(d, host) {
    const scaleAt = Math.round(d * 0.4);
    return [
      at(0, `${host} answers a virtual address (TTL ${recordTtl} s) DNATed at random to inventory-1 or inventory-2; traffic starts`),
      at(scaleAt, 'scaled to 6 pods: inventory-3..6 start and join the DNAT rules'),
      at(d, 'traffic stops'),
    ];
  },
  async setup(ctx) {
    const scaleAt = Math.round(ctx.durationMs * 0.4);
    const vip = ctx.address(200);
    const first = [await ctx.startPod(), await ctx.startPod()];
    await ctx.firewall!.balance(
      vip,
      ctx.port,
      first.map((p) => p.address),
    );
    await checkDnat(ctx, vip);
    ctx.publish([vip]);
    ctx.at(scaleAt, { kind: 'scale', label: 'scaled 2 → 6' }, async () => {
      const more = [await ctx.startPod(), await ctx.startPod(), await ctx.startPod(), await ctx.startPod()];
      await ctx.firewall!.balance(
        vip,
        ctx.port,
        [...first, ...more].map((p) => p.address),
      );
    });
  },
};
