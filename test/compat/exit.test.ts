/**
 * No handle outlives the caller's work: a child process that sends through a dispatcher (requests,
 * fetch, upgrade, CONNECT, WebSocket, EventSource, aborted requests, a close while a retry waits) exits
 * on its own once its work is done, with undici's `Agent` and with `ResilientAgent` alike. The child is
 * test/compat/fixtures/exit-child.ts; its servers run here. Real parts only, on 127.0.155.x.
 */
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { refusedOrigin } from './support/servers.js';
import { useCompatScope } from './support/scope.js';

const child = fileURLToPath(new URL('./fixtures/exit-child.ts', import.meta.url));
const { server, dns } = useCompatScope('127.0.155.53', '127.0.155.2');

interface ChildRun {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly out: string;
  readonly err: string;
  /** Milliseconds from the child's `done` to its exit. */
  readonly exitAfterDoneMs: number;
}

async function runChild(args: string[]): Promise<ChildRun> {
  const proc = spawn(process.execPath, ['--import', 'tsx', '--no-warnings', child, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  let doneAt = 0;
  proc.stdout.on('data', (chunk: Buffer) => {
    out += String(chunk);
    if (doneAt === 0 && out.includes('done')) doneAt = performance.now();
  });
  proc.stderr.on('data', (chunk: Buffer) => (err += String(chunk)));
  const killer = setTimeout(() => proc.kill('SIGKILL'), 40_000);
  const [code, signal] = await new Promise<[number | null, NodeJS.Signals | null]>((resolve) => proc.on('exit', (c, s) => resolve([c, s])));
  clearTimeout(killer);
  return { code, signal, out, err, exitAfterDoneMs: doneAt === 0 ? Number.NaN : performance.now() - doneAt };
}

describe('a process whose work is done exits on its own', () => {
  for (const kind of ['undici', 'ridethrough'] as const) {
    it(`${kind}: requests, fetch, upgrade, CONNECT, WebSocket, EventSource and aborted requests, nothing closed`, async () => {
      const s = await server({ address: '127.0.155.1', protocol: 'http' });
      const refused = await refusedOrigin('127.0.155.9');
      const r = await runChild([kind, 'work', s.origin, refused, dns.server]);
      expect(r.err).toBe('');
      expect(r.signal, 'the child had to be killed: something kept its event loop alive').toBeNull();
      expect(r.code).toBe(0);
      expect(r.out).toContain('abort before headers: AbortError');
      expect(r.out).toContain('abort during body: AbortError');
      expect(r.out).toContain('abort while retrying: ');
      // Well before any keep-alive, deadline or DNS timer would have run out.
      expect(r.exitAfterDoneMs).toBeLessThan(3_000);
    });

    it(`${kind}: closed while a request waits to retry`, async () => {
      const s = await server({ address: '127.0.155.1', protocol: 'http' });
      const refused = await refusedOrigin('127.0.155.9');
      const r = await runChild([kind, 'close', s.origin, refused, dns.server]);
      expect(r.err).toBe('');
      expect(r.signal).toBeNull();
      expect(r.code).toBe(0);
      expect(r.out).toMatch(/after close: \w+/);
      expect(r.exitAfterDoneMs).toBeLessThan(3_000);
    });
  }
});
