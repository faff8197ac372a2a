/**
 * `dns-outage`: the cluster DNS stops answering while the pods are fine.
 * @module
 */
import { at, phases, recordTtl, type ScenarioDefinition } from './types.js';

/** When the outage starts and ends. */
function outage(d: number): { from: number; to: number } {
  return { from: phases(d).warm, to: d - 500 };
}

/** `dns-outage`: DNS silent for several seconds; every request needs a new connection. */
export const dnsOutage: ScenarioDefinition = {
  name: 'dns-outage',
  title: 'DNS stops answering for a few seconds',
  summary:
    'Nothing moves, but the cluster DNS goes silent (queries dropped, as when CoreDNS is overloaded or restarting). The pods close each connection after answering, so every request needs a new connection and so a name lookup. A pod resolver waits 5 s before asking again, and gives up after its second try; a cache that serves the last good answer keeps going.',
  method: 'GET',
  needsRoot: false,
  defaultDurationMs: 8_000,
  timing(d, host) {
    const { from, to } = outage(d);
    return [
      at(0, `inventory-1..3 behind ${host} (TTL ${recordTtl} s), answering with Connection: close; traffic starts`),
      at(from, 'the DNS server stops answering (queries are dropped)'),
      at(to, 'the DNS server answers again'),
      at(d, 'traffic stops; the lab waits for requests still in flight'),
    ];
  },
  async setup(ctx) {
    const { from, to } = outage(ctx.durationMs);
    const pods = [await ctx.startPod('close'), await ctx.startPod('close'), await ctx.startPod('close')];
    ctx.publish(pods);
    ctx.at(from, { kind: 'fault', label: 'DNS down' }, () => ctx.dns.pause());
    ctx.at(to, { kind: 'recover', label: 'DNS back' }, () => ctx.dns.resume());
  },
};
