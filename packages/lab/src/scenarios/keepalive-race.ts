/**
 * `keepalive-race`: the server closes an idle keep-alive connection as the client reuses it.
 * @module
 */
import { at, recordTtl, type ScenarioDefinition } from './types.js';

/** Idle time after which the pod closes a connection as the next request arrives: 3 mean gaps, so about 5 % of gaps. */
function idleCloseMs(rate: number): number {
  return Math.round(3_000 / rate);
}

/** `keepalive-race`: nothing moves; idle connections are closed as requests arrive on them. */
export const keepaliveRace: ScenarioDefinition = {
  name: 'keepalive-race',
  title: 'Keep-alive race: the server closes a connection as a request arrives on it',
  summary:
    "Nothing moves. The pod closes a keep-alive connection that has been idle for a little while (three times the mean gap between requests, so about one gap in twenty) at the moment the next request arrives on it, without answering: the server's idle timer and the client's reuse of the connection crossing on the wire, compressed in time. The request never ran, but the client cannot know; it sees a reset or 'other side closed'. Safe to retry for a GET.",
  method: 'GET',
  needsRoot: false,
  defaultDurationMs: 5_000,
  timing(d, host, rate) {
    return [
      at(
        0,
        `one pod, inventory-1, behind ${host} (TTL ${recordTtl} s), closing a connection idle for ${idleCloseMs(rate)} ms when the next request arrives on it; traffic starts (random gaps, ${Math.round(1000 / rate)} ms on average)`,
      ),
      at(d, 'traffic stops'),
    ];
  },
  async setup(ctx) {
    ctx.publish([await ctx.startPod('idle-race', { idleCloseMs: idleCloseMs(ctx.rate) })]);
  },
};
