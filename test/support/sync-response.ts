/**
 * A response played into a dispatch handler synchronously, with no network: for what must see the
 * request path alone (bench/overhead.ts, test/core/hidden-classes.test.ts).
 * @module
 */
import type { Dispatcher } from 'undici';

const noHeaders: Record<string, string> = {};
const okBody = Buffer.from('ok');

/** The controller handed to the handler: it records an abort and nothing else. */
export class SyncController implements Dispatcher.DispatchController {
  aborted = false;
  paused = false;
  reason: Error | null = null;
  rawHeaders = null;
  rawTrailers = null;
  abort(reason: Error): void {
    this.aborted = true;
    this.reason = reason;
  }
  pause(): void {}
  resume(): void {}
}

/** Plays a whole `200` response with a two-byte body into `handler`, synchronously. */
export function answerSync(handler: Dispatcher.DispatchHandler): void {
  const c = new SyncController();
  handler.onRequestStart?.(c, {});
  handler.onResponseStart?.(c, 200, noHeaders, 'OK');
  handler.onResponseData?.(c, okBody);
  handler.onResponseEnd?.(c, noHeaders);
}
