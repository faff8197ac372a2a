/**
 * The watch's life: one watch per Service shared by every agent of the process (and every origin naming
 * the Service), stopped when none needs it; and a process whose watch is open still exits by itself once
 * its work is done (a child process, as test/core/exit.test.ts). Addresses 127.0.132.x.
 */
import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { expect, it } from 'vitest';
import { ResilientAgent } from '../../src/index.js';
import { get, originStats, podPort, waitFor, useKubeScope } from './support.js';

const base = '127.0.132';
const host = 'inventory.shop.svc.cluster.local';
const child = fileURLToPath(new URL('./fixtures/exit-child.ts', import.meta.url));
const scope = useKubeScope();

it('one watch per Service, shared by two agents and by every origin naming it; stopped when no agent needs it', async () => {
  const kc = await scope.start(base);
  await kc.cluster.startPod('pod-a', `${base}.1`, podPort);
  await kc.cluster.startPod('pod-a-admin', `${base}.1`, podPort + 1);
  kc.cluster.publish(host, [`${base}.1`], 60);
  kc.cluster.publish('inventory.shop', [`${base}.1`], 60);
  kc.api.applySlice({
    namespace: 'shop',
    service: 'inventory',
    endpoints: [{ address: `${base}.1` }],
    ports: [
      { name: 'http', port: podPort },
      { name: 'admin', port: podPort + 1 },
    ],
  });
  // Two agents, each with its own kubernetesEndpoints() (same API server and credentials).
  const a1 = new ResilientAgent({ dns: kc.cluster.dnsOptions(), discovery: kc.source() });
  const a2 = new ResilientAgent({ dns: kc.cluster.dnsOptions(), discovery: kc.source() });
  scope.keep(a1, a2);
  await get(a1, `http://${host}:${podPort}/`);
  await get(a2, `http://inventory.shop:${podPort}/`);
  await get(a2, `http://${host}:${podPort + 1}/`);
  await waitFor('every origin to sync', () => [...Object.values(a1.stats), ...Object.values(a2.stats)].every((s) => s.endpointsFrom === 'kubernetes'));
  await waitFor('the watch to open', () => kc.api.activeWatches === 1);
  expect(kc.api.lists).toBe(1);
  expect(kc.api.watches).toBe(1);
  expect((await get(a2, `http://${host}:${podPort + 1}/`)).body).toBe('pod-a-admin');

  await a1.destroy();
  expect(kc.api.activeWatches).toBe(1);
  await a2.destroy();
  await waitFor('the watch to stop', () => kc.api.activeWatches === 0);
  // A later agent starts a new one.
  const a3 = new ResilientAgent({ dns: kc.cluster.dnsOptions(), discovery: kc.source() });
  scope.keep(a3);
  await get(a3, `http://${host}:${podPort}/`);
  await waitFor('a new watch', () => kc.api.activeWatches === 1);
  await waitFor('the sync', () => originStats(a3, `http://${host}:${podPort}`)?.endpointsFrom === 'kubernetes');
});

it('a process with a watch open exits by itself once its work is done', async () => {
  const kc = await scope.start(base);
  await kc.cluster.startPod('pod-a', `${base}.1`, podPort);
  kc.cluster.publish(host, [`${base}.1`], 60);
  kc.api.applySlice({ namespace: 'shop', service: 'inventory', endpoints: [{ address: `${base}.1` }], ports: [{ name: 'http', port: podPort }] });
  const caFile = join(tmpdir(), `rt-kube-ca-${process.pid}.pem`);
  writeFileSync(caFile, kc.cert.cert);
  kc.cluster.defer(() => import('node:fs').then((fs) => fs.rmSync(caFile, { force: true })));

  const proc = spawn(process.execPath, ['--import', 'tsx', child, kc.cluster.dns.server, kc.api.url, caFile, kc.tokenFile, `http://${host}:${podPort}/`], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  let doneAt = 0;
  let watchOpenAtDone = false;
  proc.stdout.on('data', (chunk: Buffer) => {
    out += String(chunk);
    if (out.includes('done') && doneAt === 0) {
      doneAt = Date.now();
      watchOpenAtDone = kc.api.activeWatches === 1;
    }
  });
  proc.stderr.on('data', (chunk: Buffer) => (err += String(chunk)));
  const killer = setTimeout(() => proc.kill('SIGKILL'), 30_000);
  const [code, signal] = await new Promise<[number | null, NodeJS.Signals | null]>((resolve) => proc.on('exit', (c, s) => resolve([c, s])));
  clearTimeout(killer);

  expect(err).toBe('');
  expect(out).toContain('pod-a kubernetes');
  expect(watchOpenAtDone, 'the watch was open when the job finished').toBe(true);
  expect(signal, 'the child had to be killed: something kept its event loop alive').toBeNull();
  expect(code).toBe(0);
  expect(Date.now() - doneAt).toBeLessThan(3_000);
});
