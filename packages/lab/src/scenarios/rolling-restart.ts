/**
 * `rolling-restart`: three replicas replaced one after another.
 * @module
 */
import type { LabPod } from '@ridethrough/testbed';
import { at, phases, recordTtl, seconds, type ScenarioDefinition } from './types.js';

function steps(d: number): { warm: number; lag: number; every: number } {
  const { warm, lag } = phases(d);
  return { warm, lag, every: Math.max(700, Math.round((d - warm - lag - 500) / 2)) };
}

/** `rolling-restart`: a rollout replaces each replica; DNS trails every step. */
export const rollingRestart: ScenarioDefinition = {
  name: 'rolling-restart',
  title: 'A rolling restart replaces all three replicas',
  summary:
    'A rollout (kubectl rollout restart) replaces the three replicas one at a time: each step starts a new pod at a new address and stops an old one, and DNS reflects each step late. For a while DNS lists a dead address; at times two of the three listed addresses are dead.',
  method: 'GET',
  needsRoot: false,
  defaultDurationMs: 5_000,
  timing(d, host) {
    const { warm, lag, every } = steps(d);
    const lines = [at(0, `inventory-1..3 behind ${host} (3 A records in rotating order, TTL ${recordTtl} s); traffic starts`)];
    for (let i = 0; i < 3; i++) {
      lines.push(at(warm + i * every, `inventory-${4 + i} starts, inventory-${1 + i} stops`));
    }
    lines.push(`each DNS change follows its step by ${seconds(lag)}`, at(d, 'traffic stops; the lab waits for requests still in flight'));
    return lines;
  },
  async setup(ctx) {
    const { warm, lag, every } = steps(ctx.durationMs);
    const live: LabPod[] = [await ctx.startPod(), await ctx.startPod(), await ctx.startPod()];
    ctx.publish(live);
    for (let i = 0; i < 3; i++) {
      const stepAt = warm + i * every;
      let snapshot: LabPod[] = [];
      ctx.at(stepAt, { kind: 'pod', label: `step ${i + 1}` }, async () => {
        const fresh = await ctx.startPod();
        const old = live[i]!;
        live[i] = fresh;
        snapshot = [...live];
        const stopped = old.stop();
        ctx.lost(old);
        await stopped;
      });
      ctx.at(stepAt + lag, { kind: 'dns', label: `DNS ${i + 1}` }, () => ctx.publish(snapshot));
    }
  },
};
