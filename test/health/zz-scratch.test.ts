import diagnosticsChannel from 'node:diagnostics_channel';
import { readFileSync } from 'node:fs';
import type { Socket } from 'node:net';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { Cluster, sleep } from '../support/cluster.js';
import type { Pod } from '../support/pods.js';
import { HEALTH_NAT_CHAIN, agentFor, send } from './support/helpers.js';
import { NatChain } from './support/nat.js';
const VIP = '127.0.94.100', PORT = 18094;
const nat = new NatChain(HEALTH_NAT_CHAIN);
beforeAll(() => nat.setup());
afterAll(() => nat.cleanup());
it.each([0, 1, 2, 3, 4, 5])('scratch %i', async () => {
  const c = await Cluster.start('127.0.94.53');
  const log: string[] = [];
  const t0 = Date.now();
  const sockOf = new WeakMap<object, Socket>();
  const connAt = new Map<number, number>();
  const onSend = (m: unknown) => { const { request, socket } = m as { request: object; socket: Socket }; sockOf.set(request, socket); };
  const onConn = (m: unknown) => { const { socket } = m as { socket: Socket }; connAt.set(socket.localPort!, Date.now() - t0); log.push(`${Date.now() - t0} connected lport ${socket.localPort}`); };
  const onErr = (m: unknown) => {
    const { request, error } = m as { request: object; error: Error };
    const s = sockOf.get(request);
    const lp = s?.localPort;
    const ct = readFileSync('/proc/net/nf_conntrack', 'utf8').split('\n').filter((l) => lp !== undefined && l.includes(`sport=${lp} `));
    log.push(`${Date.now() - t0} ERR ${error.message} lport ${lp} connectedAt ${lp ? connAt.get(lp) : '?'} written ${s?.bytesWritten} read ${s?.bytesRead}\n   ${ct.join('\n   ')}`);
  };
  diagnosticsChannel.subscribe('undici:client:sendHeaders', onSend);
  diagnosticsChannel.subscribe('undici:client:connected', onConn);
  diagnosticsChannel.subscribe('undici:request:error', onErr);
  try {
    const pods: Pod[] = [];
    for (let i = 1; i <= 6; i++) { const p = await c.startPod(`pod${i}`, `127.0.94.${i}`, PORT); p.server.keepAliveTimeout = 60_000; pods.push(p); }
    const serverSide = new Map<number, string>();
    for (const p of pods) p.server.on('connection', (s: Socket) => { serverSide.set(s.remotePort!, p.name); s.on('close', () => log.push(`${Date.now() - t0} server ${p.name} socket from ${s.remotePort} closed`)); });
    nat.balance(VIP, PORT, pods.slice(0, 2).map((p) => p.address));
    c.publish('svc.age.test', [VIP], 30);
    const agent = agentFor(c, { maxConnectionAge: 2_000, connectionsPerEndpoint: 8 });
    let stop = false;
    const work = Promise.all(Array.from({ length: 8 }, async () => { while (!stop) { await send(agent, `http://svc.age.test:${PORT}/`).catch(() => {}); await sleep(15); } }));
    await sleep(1000);
    nat.balance(VIP, PORT, pods.map((p) => p.address));
    log.push(`${Date.now() - t0} balanced`);
    await sleep(4000);
    stop = true; await work;
    if (log.some((l) => l.includes('ERR'))) console.log(log.filter((l) => !l.includes('closed') || true).join('\n'), '\nserverSide', [...serverSide.entries()].join(' '));
  } finally {
    diagnosticsChannel.unsubscribe('undici:client:sendHeaders', onSend);
    diagnosticsChannel.unsubscribe('undici:client:connected', onConn);
    diagnosticsChannel.unsubscribe('undici:request:error', onErr);
    await c.close();
  }
  expect(1).toBe(1);
}, 20000);
