/**
 * ridethrough's own bookkeeping per request, without a network: the request flow (endpoint choice,
 * breaker, budget, deadline, classification, handler wrapping) in front of a transport that answers
 * `200` synchronously, against the same transport called directly. Prints nanoseconds per request.
 *
 * This isolates what ridethrough adds from undici's and the kernel's work, which on a shared VM vary by
 * ±15 % from run to run and drown a few hundred nanoseconds. The loopback comparison with raw undici is
 * `npm run bench`.
 *
 * ```sh
 * ./node_modules/.bin/node --import tsx bench/overhead.ts [--requests 1000000] [--rounds 7]
 * ```
 *
 * @module
 */
import { parseArgs } from 'node:util';
import type { Dispatcher } from 'undici';
import { ResilienceContext } from '../src/core/context.js';
import { LiveRequests } from '../src/http/live-requests.js';
import { type AttemptTransport, RequestFlow } from '../src/http/request-flow.js';
import { answerSync as answer } from '../test/support/sync-response.js';

const { values } = parseArgs({ options: { requests: { type: 'string', default: '1000000' }, rounds: { type: 'string', default: '7' } } });
const requests = Number(values.requests);
const rounds = Number(values.rounds);

let completed = 0;
class UserHandler implements Dispatcher.DispatchHandler {
  onRequestStart(): void {}
  onResponseStart(): void {}
  onResponseData(): void {}
  onResponseEnd(): void {
    completed++;
  }
  onResponseError(_c: unknown, err: Error): void {
    throw err;
  }
}

const opts: Dispatcher.DispatchOptions = { origin: 'http://127.0.0.1:8080', path: '/', method: 'GET' };

function bare(n: number): void {
  for (let i = 0; i < n; i++) answer(new UserHandler());
}

const ctx = new ResilienceContext({});
// As the agent's transport: its pools, its count of live requests (close() waits for them).
const transport: AttemptTransport = {
  appliesTimeouts: true,
  carrier: 'pool',
  live: new LiveRequests(),
  send: (_origin, _endpoint, _opts, handler) => answer(handler),
};
function flow(n: number): void {
  for (let i = 0; i < n; i++) new RequestFlow(ctx, transport, opts, new UserHandler()).start();
}

function time(fn: (n: number) => void): number {
  const t0 = process.hrtime.bigint();
  fn(requests);
  return Number(process.hrtime.bigint() - t0) / requests;
}

// Warm up both (the first request resolves the literal asynchronously), then alternate.
bare(50_000);
flow(50_000);
await new Promise((resolve) => setImmediate(resolve));
const bareNs: number[] = [];
const flowNs: number[] = [];
for (let r = 0; r < rounds; r++) {
  bareNs.push(time(bare));
  flowNs.push(time(flow));
}
const median = (a: number[]): number => [...a].sort((x, y) => x - y)[Math.floor(a.length / 2)]!;
if (completed !== (requests * rounds + 50_000) * 2) throw new Error(`expected every request to complete, got ${completed}`);
console.log(
  `bare transport: ${median(bareNs).toFixed(0)} ns/request; through the request flow: ${median(flowNs).toFixed(0)} ns/request; ridethrough adds ${(median(flowNs) - median(bareNs)).toFixed(0)} ns`,
);
ctx.close();
