/**
 * `lost-response`: a replica keeps executing POSTs but its responses never arrive.
 * @module
 */
import { at, phases, recordTtl, type ScenarioDefinition } from './types.js';

/** `lost-response` (root): responses of one replica are dropped; counts double executions. */
export const lostResponse: ScenarioDefinition = {
  name: 'lost-response',
  title: 'A replica executes POSTs but its responses are lost',
  summary:
    'Three replicas take POSTs. One goes on receiving and executing requests, but every packet it sends back except the SYN-ACK is dropped (iptables DROP on its source address and port), so clients see a timeout for a request that did run. A client that re-sends a POST after a timeout executes it twice; the pods count executions per request id.',
  method: 'POST',
  needsRoot: true,
  defaultDurationMs: 5_000,
  timing(d, host) {
    const { warm } = phases(d);
    return [
      at(0, `inventory-1..3 behind ${host} (3 A records in rotating order, TTL ${recordTtl} s); POST traffic starts`),
      at(warm, "inventory-3's responses are dropped from now on (requests still reach it and run)"),
      at(d, 'traffic stops; the lab waits for requests still in flight'),
    ];
  },
  async setup(ctx) {
    const { warm } = phases(ctx.durationMs);
    const pods = [await ctx.startPod(), await ctx.startPod(), await ctx.startPod()];
    ctx.publish(pods);
    const lossy = pods[2]!;
    ctx.at(warm, { kind: 'fault', label: 'responses lost' }, async () => {
      await ctx.firewall!.dropResponses(lossy.address, ctx.port);
      ctx.lost(lossy);
    });
  },
};
