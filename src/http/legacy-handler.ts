import type { Dispatcher } from 'undici';
import type { HeaderRecord } from '../utils/headers.js';

/**
 * The handler shape of undici 6 and 7 (`onConnect`, `onHeaders`, `onData`, `onComplete`, `onError`),
 * which Node 22's and Node 24's built-in `fetch` pass to a dispatcher.
 * @internal
 */
export interface LegacyHandler {
  onConnect?(abort: (reason?: unknown) => void, context?: unknown): void;
  // biome-ignore lint/suspicious/noConfusingVoidType: undici's legacy handler API: a handler may return nothing.
  onHeaders?(statusCode: number, rawHeaders: Buffer[], resume: () => void, statusText: string): boolean | void;
  // biome-ignore lint/suspicious/noConfusingVoidType: as above.
  onData?(chunk: Buffer): boolean | void;
  onComplete?(rawTrailers: Buffer[] | null): void;
  onError?(err: Error): void;
  onUpgrade?(statusCode: number, rawHeaders: Buffer[], socket: unknown): void;
  onResponseStarted?(): void;
  onBodySent?(chunk: unknown): void;
  onRequestSent?(): void;
}

/** Whether a handler uses the undici 8 (`onRequestStart` ...) shape. @internal */
export function isModernHandler(handler: object): handler is Dispatcher.DispatchHandler {
  return typeof (handler as Dispatcher.DispatchHandler).onRequestStart === 'function' || typeof (handler as LegacyHandler).onHeaders !== 'function';
}

/**
 * Presents a legacy handler through the undici 8 handler interface, so one request flow serves
 * every Node line's `fetch`.
 * @internal
 */
export class LegacyHandlerAdapter implements Dispatcher.DispatchHandler {
  /**
   * @param handler - the undici 6/7 handler
   */
  constructor(private readonly handler: LegacyHandler) {}

  onRequestStart(controller: Dispatcher.DispatchController, context: unknown): void {
    this.handler.onConnect?.((reason) => controller.abort(toError(reason)), context);
  }

  onRequestUpgrade(controller: Dispatcher.DispatchController, statusCode: number, headers: HeaderRecord, socket: unknown): void {
    this.handler.onUpgrade?.(statusCode, rawHeaders(controller.rawHeaders, headers), socket);
  }

  onResponseStarted(): void {
    this.handler.onResponseStarted?.();
  }

  onResponseStart(controller: Dispatcher.DispatchController, statusCode: number, headers: HeaderRecord, statusMessage?: string): void {
    const keepGoing = this.handler.onHeaders?.(statusCode, rawHeaders(controller.rawHeaders, headers), () => controller.resume(), statusMessage ?? '');
    if (keepGoing === false) controller.pause();
  }

  onResponseData(controller: Dispatcher.DispatchController, chunk: Buffer): void {
    if (this.handler.onData?.(chunk) === false) controller.pause();
  }

  onResponseEnd(controller: Dispatcher.DispatchController, trailers: HeaderRecord): void {
    this.handler.onComplete?.(rawHeaders(controller.rawTrailers, trailers));
  }

  onResponseError(_controller: Dispatcher.DispatchController | null, err: Error): void {
    this.handler.onError?.(err);
  }

  onBodySent(chunk: Buffer): void {
    this.handler.onBodySent?.(chunk);
  }

  onRequestSent(): void {
    this.handler.onRequestSent?.();
  }
}

/** Flat `[name, value, ...]` Buffer list, from the parser's raw list when there is one. */
function rawHeaders(raw: unknown, parsed: HeaderRecord | null | undefined): Buffer[] {
  if (Array.isArray(raw)) return raw.map((v: unknown) => (Buffer.isBuffer(v) ? v : Buffer.from(String(v), 'latin1')));
  const out: Buffer[] = [];
  for (const [k, v] of Object.entries(parsed ?? {})) {
    if (v === undefined) continue;
    for (const item of Array.isArray(v) ? v : [v]) out.push(Buffer.from(k, 'latin1'), Buffer.from(item, 'latin1'));
  }
  return out;
}

function toError(reason: unknown): Error {
  return reason instanceof Error ? reason : new DOMException('The operation was aborted.', 'AbortError');
}
