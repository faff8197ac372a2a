/**
 * `replica-loss`: one of three replicas stops and is replaced at a new address.
 * @module
 */
import { at, phases, recordTtl, seconds, type ScenarioDefinition } from './types.js';

/** `replica-loss`: one replica of three refuses, DNS drops it late. */
export const replicaLoss: ScenarioDefinition = {
  name: 'replica-loss',
  title: 'One replica of three is replaced',
  summary:
    'Three replicas behind one name (a headless service). One stops and is replaced at a new address; DNS keeps listing the dead one for a while. A client that tries another address after a refusal loses nothing; one that sticks to the dead address fails.',
  method: 'GET',
  needsRoot: false,
  defaultDurationMs: 5_000,
  timing(d, host) {
    const { warm, lag } = phases(d);
    return [
      at(0, `inventory-1..3 behind ${host} (3 A records in rotating order, TTL ${recordTtl} s); traffic starts`),
      at(warm, 'inventory-2 stops (refuses connections); inventory-4 is up at a new address'),
      at(warm + lag, `DNS answers inventory-1, inventory-3, inventory-4 (${seconds(lag)} later)`),
      at(d, 'traffic stops; the lab waits for requests still in flight'),
    ];
  },
  async setup(ctx) {
    const { warm, lag } = phases(ctx.durationMs);
    const [a, b, c] = [await ctx.startPod(), await ctx.startPod(), await ctx.startPod()];
    ctx.publish([a, b, c]);
    let d: Awaited<ReturnType<typeof ctx.startPod>> | undefined;
    ctx.at(warm, { kind: 'pod', label: 'replica replaced' }, async () => {
      d = await ctx.startPod();
      await b.stop();
    });
    ctx.at(warm + lag, { kind: 'dns', label: 'DNS updated' }, () => ctx.publish([a, c, d!]));
  },
};
