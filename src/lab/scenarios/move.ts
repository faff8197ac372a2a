/**
 * `move`: a single-replica service's pod moves to a new address; DNS follows late.
 * @module
 */
import { at, phases, recordTtl, seconds, type ScenarioDefinition } from './types.js';

/** Builds a move scenario (GET `move`, or POST `post-move`). */
export function moveScenario(name: 'move' | 'post-move', method: 'GET' | 'POST'): ScenarioDefinition {
  return {
    name,
    title: method === 'GET' ? 'A pod moves: its old address refuses, DNS catches up late' : 'A pod moves while clients POST: who fails, who sends twice',
    summary:
      method === 'GET'
        ? 'One replica. The pod is rescheduled: the old address refuses connections at once, the new pod is up, but DNS keeps answering the old address until the endpoint change reaches it. Clients that re-resolve and retry ride it out; the others fail until their DNS cache and pools let go.'
        : 'The same move, with POST requests (not idempotent). A refused connection never reached the server, so a retry is safe; a request cut after it was sent may have run. Each request carries a unique id and the pods count executions, so the table shows failures and any request executed twice.',
    method,
    needsRoot: false,
    defaultDurationMs: 5_000,
    timing(d, host) {
      const { warm, lag } = phases(d);
      return [
        at(0, `one pod, inventory-1, behind ${host} (A record, TTL ${recordTtl} s); traffic starts`),
        at(warm, 'inventory-1 stops: its address refuses connections; inventory-2 is up at a new address'),
        at(warm + lag, `DNS answers inventory-2 (${seconds(lag)} after the move)`),
        at(d, 'traffic stops; the lab waits for requests still in flight'),
      ];
    },
    async setup(ctx) {
      const { warm, lag } = phases(ctx.durationMs);
      const old = await ctx.startPod();
      ctx.publish([old]);
      let next: Awaited<ReturnType<typeof ctx.startPod>> | undefined;
      ctx.at(warm, { kind: 'pod', label: 'pod moved' }, async () => {
        next = await ctx.startPod();
        await old.stop();
      });
      ctx.at(warm + lag, { kind: 'dns', label: 'DNS updated' }, () => ctx.publish([next!]));
    },
  };
}

/** `move`: GET traffic. */
export const move = moveScenario('move', 'GET');
