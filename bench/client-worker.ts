/**
 * One benchmark client in a process of its own (bench/hot-path.ts forks one per client): so clients do
 * not share undici's code, whose inline caches would otherwise see every client's handler classes, and
 * each runs as it would alone in an application. The parent drives it over IPC, one batch at a time, so
 * only one client sends at any moment.
 *
 * Messages in: `{ type: 'init', id, layout }`, `{ type: 'batch', n, concurrency }`, `{ type: 'close' }`.
 * Replies: `{ type: 'ready' }`, `{ type: 'batch', result }` (latencies as a plain array), `{ type: 'closed' }`,
 * `{ type: 'error', message }`.
 *
 * @module
 */
import { type Client, type ClientId, type ClientLayout, makeClients, runBatch } from './clients.js';
import type { GcSummary } from './lib.js';

/** A message from the parent. */
export type WorkerRequest = { type: 'init'; id: ClientId; layout: ClientLayout } | { type: 'batch'; n: number; concurrency: number } | { type: 'close' };

/** A reply to the parent. */
export type WorkerReply =
  | { type: 'ready'; name: string }
  | { type: 'batch'; count: number; errors: number; firstError: string | undefined; ms: number; cpuMicros: number; latencies: number[]; gc: GcSummary }
  | { type: 'closed' }
  | { type: 'error'; message: string };

let client: Client | undefined;

function reply(message: WorkerReply): void {
  process.send?.(message);
}

process.on('message', (message: WorkerRequest) => {
  void handle(message).catch((err: unknown) => reply({ type: 'error', message: err instanceof Error ? (err.stack ?? err.message) : String(err) }));
});

async function handle(message: WorkerRequest): Promise<void> {
  switch (message.type) {
    case 'init': {
      client = makeClients(message.layout, [message.id]).find((c) => c.id === message.id);
      if (!client) throw new Error(`no client ${message.id} in this layout`);
      reply({ type: 'ready', name: client.name });
      return;
    }
    case 'batch': {
      if (!client) throw new Error('batch before init');
      const r = await runBatch(client, message.n, message.concurrency, false);
      reply({ ...r, type: 'batch', latencies: Array.from(r.latencies.subarray(0, r.count)) });
      return;
    }
    case 'close': {
      await client?.close();
      reply({ type: 'closed' });
      process.disconnect?.();
      return;
    }
  }
}
