/**
 * `k8s-rolling-restart`: a rollout where each old pod is terminating (still serving) before it stops.
 * @module
 */
import type { LabPod } from '@ridethrough/testbed';
import { apiLagMs } from './k8s-move.js';
import { at, phases, recordTtl, seconds, type ScenarioDefinition } from './types.js';

/** How long a terminating pod keeps accepting (its preStop sleep) before it stops. */
export const drainMs = 1_000;
/** How long DNS trails each step. */
const dnsLagMs = 2_000;

function steps(d: number): { warm: number; every: number } {
  const { warm } = phases(d);
  return { warm, every: Math.max(1_500, Math.round((d - warm - dnsLagMs - 500) / 2)) };
}

/** `k8s-rolling-restart`: three replicas replaced, each old pod draining as `terminating` first. */
export const k8sRollingRestart: ScenarioDefinition = {
  name: 'k8s-rolling-restart',
  title: 'A rolling restart with terminating endpoints drained first',
  summary: `A rollout replaces three replicas one at a time. Each step starts a new pod and starts shutting the old one down: the EndpointSlice shows the new pod ready and the old one terminating (still serving) ${seconds(apiLagMs)} later; the old pod keeps accepting for ${seconds(drainMs)} (a preStop sleep), then stops and leaves the slice. DNS follows each step ${seconds(dnsLagMs)} late. A client that sends nothing new to terminating endpoints needs no retry at all.`,
  method: 'GET',
  needsRoot: false,
  kubernetesApi: true,
  defaultDurationMs: 8_000,
  timing(d, host) {
    const { warm, every } = steps(d);
    const lines = [at(0, `inventory-1..3 behind ${host} (3 A records, TTL ${recordTtl} s; EndpointSlice of Service inventory); traffic starts`)];
    for (let i = 0; i < 3; i++) {
      const t = warm + i * every;
      lines.push(
        at(t, `inventory-${4 + i} starts; inventory-${1 + i} starts shutting down`),
        at(t + apiLagMs, `the slice lists inventory-${4 + i} ready, inventory-${1 + i} terminating`),
        at(t + drainMs, `inventory-${1 + i} stops accepting and leaves the slice`),
        at(t + dnsLagMs, `DNS drops inventory-${1 + i}, adds inventory-${4 + i}`),
      );
    }
    lines.push(at(d, 'traffic stops; the lab waits for requests still in flight'));
    return lines;
  },
  async setup(ctx) {
    const { warm, every } = steps(ctx.durationMs);
    const live: LabPod[] = [await ctx.startPod(), await ctx.startPod(), await ctx.startPod()];
    ctx.publish(live);
    ctx.publishEndpoints(live.map((target) => ({ target })));
    for (let i = 0; i < 3; i++) {
      const t = warm + i * every;
      // The step's later moments wait for its start: on a busy machine starting a pod may take longer than the API lag.
      let step: Promise<{ old: LabPod; snapshot: LabPod[] }> | undefined;
      ctx.at(t, { kind: 'pod', label: `step ${i + 1}` }, async () => {
        step = ctx.startPod().then((fresh) => {
          const old = live[i]!;
          live[i] = fresh;
          return { old, snapshot: [...live] };
        });
        await step;
      });
      ctx.at(t + apiLagMs, { kind: 'pod', label: `API ${i + 1}` }, async () => {
        const { old, snapshot } = await step!;
        ctx.publishEndpoints([...snapshot.map((target) => ({ target })), { target: old, terminating: true }]);
      });
      ctx.at(t + drainMs, { kind: 'pod', label: `stop ${i + 1}` }, async () => {
        const { old, snapshot } = await step!;
        ctx.publishEndpoints(snapshot.map((target) => ({ target })));
        const stopped = old.stop();
        ctx.lost(old);
        await stopped;
      });
      ctx.at(t + dnsLagMs, { kind: 'dns', label: `DNS ${i + 1}` }, async () => ctx.publish((await step!).snapshot));
    }
  },
};
