/**
 * A request's own objects keep the hidden class V8 made them with. undici keeps each attempt's handler
 * on its request (`Request[kHandler]`) and the caller's handler keeps the flow as its controller: if
 * the first response changed the class of these objects (a time field that starts as a small integer
 * and then holds a fractional time), the caches of that undici code would turn megamorphic for the
 * rest of the process. This must be the first use of these classes in the process, so it is a file of
 * its own (vitest runs each file in a fresh process). The transport answers synchronously: no network.
 */
import v8 from 'node:v8';
import type { Dispatcher } from 'undici';
import { afterAll, describe, expect, it, vi } from 'vitest';
import { ResilienceContext } from '../../src/core/context.js';
import type { AttemptHandler } from '../../src/http/attempt.js';
import { LiveRequests } from '../../src/http/live-requests.js';
import { type AttemptTransport, RequestFlow } from '../../src/http/request-flow.js';
import { answerSync } from '../support/sync-response.js';

v8.setFlagsFromString('--allow-natives-syntax');
// Compiled after the flag is set, so it may use V8's intrinsic.
const haveSameMap = new Function('a', 'b', 'return %HaveSameMap(a, b)') as (a: object, b: object) => boolean;

class UserHandler implements Dispatcher.DispatchHandler {
  ended = false;
  error: Error | undefined = undefined;
  onResponseEnd(): void {
    this.ended = true;
  }
  onResponseError(_c: unknown, err: Error): void {
    this.error = err;
  }
}

const ctx = new ResilienceContext({});
const handlers: AttemptHandler[] = [];
/** The first attempt is kept as it was made; every later one gets a whole 200 response at once. */
const transport: AttemptTransport = {
  appliesTimeouts: true,
  carrier: 'pool',
  live: new LiveRequests(),
  send: (_origin, _endpoint, _opts, handler) => {
    handlers.push(handler as AttemptHandler);
    if (handlers.length === 1) return;
    answerSync(handler);
  },
};
const opts = (): Dispatcher.DispatchOptions => ({ origin: 'http://127.0.0.1:8080', path: '/', method: 'GET' });

afterAll(() => ctx.close());

describe('the hidden classes of a request flow and its attempts', () => {
  it('stay those they were made with once a response has gone through them', async () => {
    // A flow made and never started, one whose attempt never answers, and one that completes.
    const untouched = new RequestFlow(ctx, transport, opts(), new UserHandler());
    const first = new UserHandler();
    const pending = new RequestFlow(ctx, transport, opts(), first);
    pending.start();
    await vi.waitFor(() => expect(handlers).toHaveLength(1));
    const user = new UserHandler();
    const used = new RequestFlow(ctx, transport, opts(), user);
    used.start();
    await vi.waitFor(() => expect(user.ended).toBe(true));
    expect(first.ended).toBe(false);
    expect(user.error).toBeUndefined();
    expect(handlers).toHaveLength(2);
    expect(haveSameMap(untouched, used), 'request flow').toBe(true);
    // The first attempt never answered; the second went through headers, body and end.
    expect(haveSameMap(handlers[0]!, handlers[1]!), 'attempt handler').toBe(true);
    pending.abort(new Error('test over'));
    expect(first.error?.message).toBe('test over');
  });
});
