/**
 * No leaks: a process that used ridethrough exits on its own once its work is done, without closing
 * the agent, on every supported Node line: ridethrough's timers (deadlines, DNS) are unref'd or
 * cleared, and undici's idle keep-alive sockets do not hold the event loop. The child program is
 * test/core/fixtures/exit-child.ts; a pod and the DNS server run here. Real parts only, on 127.0.39.x.
 */
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { afterEach, expect, it } from 'vitest';
import { Cluster } from '../support/cluster.js';

const child = fileURLToPath(new URL('./fixtures/exit-child.ts', import.meta.url));
let cluster: Cluster | undefined;

afterEach(async () => {
  await cluster?.close();
  cluster = undefined;
});

it('a process that made requests, a lookup and a TCP connect exits by itself without closing anything', async () => {
  const c = (cluster = await Cluster.start('127.0.39.53'));
  const pod = await c.startPod('job-target', '127.0.39.1', 0);
  // Two addresses, one refusing: some requests are retried on the other.
  c.publish('job.exit.test', ['127.0.39.2', '127.0.39.1'], 5);
  const server = c.dnsOptions().servers![0]!;

  const proc = spawn(process.execPath, ['--import', 'tsx', child, server, 'job.exit.test', String(pod.boundPort)], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  let doneAt = 0;
  proc.stdout.on('data', (chunk: Buffer) => {
    out += String(chunk);
    if (out.includes('done') && doneAt === 0) doneAt = Date.now();
  });
  proc.stderr.on('data', (chunk: Buffer) => (err += String(chunk)));
  const killer = setTimeout(() => proc.kill('SIGKILL'), 30_000);
  const [code, signal] = await new Promise<[number | null, NodeJS.Signals | null]>((resolve) => proc.on('exit', (c2, s) => resolve([c2, s])));
  clearTimeout(killer);

  expect(err).toBe('');
  expect(out).toContain('done');
  expect(signal, 'the child had to be killed: something kept its event loop alive').toBeNull();
  expect(code).toBe(0);
  // Exits right after its work, long before any of ridethrough's timers (10 s deadline, DNS TTLs)
  // would have run out: none of them holds the process.
  expect(Date.now() - doneAt).toBeLessThan(3_000);
  expect(pod.count()).toBeGreaterThanOrEqual(12);
});
