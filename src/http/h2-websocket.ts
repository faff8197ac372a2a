import type { Dispatcher } from 'undici';
import type { HeaderRecord } from '../utils/headers.js';

/** undici's message when an HTTP/2 server does not offer RFC 8441 (WebSocket over HTTP/2). */
const noExtendedConnect = 'HTTP/2: Extended CONNECT protocol not supported by server';

/**
 * The handler of a WebSocket handshake sent where HTTP/2 may be negotiated. When the server speaks
 * HTTP/2 without RFC 8441, undici fails the handshake with `UND_ERR_INFO`, and undici's fetch answers by
 * sending it again over HTTP/1.1 (`allowH2: false`). Through ridethrough that error would reach the
 * request flow, which retries an `UND_ERR_INFO` as a network failure on the same kind of connection, so
 * the fallback happens here instead: the attempt is sent again at once over HTTP/1.1, with its own handler.
 * Every other callback goes to the attempt's handler as it is.
 * @internal
 */
export class H2WebSocketFallback implements Dispatcher.DispatchHandler {
  private fellBack = false;

  /**
   * @param handler - the attempt's handler
   * @param resendOverHttp1 - sends the handshake again with `allowH2: false`, to `handler`
   */
  constructor(
    private readonly handler: Dispatcher.DispatchHandler,
    private readonly resendOverHttp1: (handler: Dispatcher.DispatchHandler) => void,
  ) {}

  onRequestStart(controller: Dispatcher.DispatchController, context: unknown): void {
    this.handler.onRequestStart?.(controller, context);
  }

  onRequestUpgrade(controller: Dispatcher.DispatchController, statusCode: number, headers: HeaderRecord, socket: unknown): void {
    (this.handler.onRequestUpgrade as ((c: unknown, s: number, h: unknown, so: unknown) => void) | undefined)?.(controller, statusCode, headers, socket);
  }

  onResponseStart(controller: Dispatcher.DispatchController, statusCode: number, headers: HeaderRecord, statusMessage?: string): void {
    this.handler.onResponseStart?.(controller, statusCode, headers, statusMessage);
  }

  onResponseData(controller: Dispatcher.DispatchController, chunk: Buffer): void {
    this.handler.onResponseData?.(controller, chunk);
  }

  onResponseEnd(controller: Dispatcher.DispatchController, trailers: HeaderRecord): void {
    this.handler.onResponseEnd?.(controller, trailers);
  }

  onResponseError(controller: Dispatcher.DispatchController | null, error: Error): void {
    if (!this.fellBack && (error as { code?: string }).code === 'UND_ERR_INFO' && error.message === noExtendedConnect && !controller?.aborted) {
      this.fellBack = true;
      this.resendOverHttp1(this.handler);
      return;
    }
    this.handler.onResponseError?.(controller as Dispatcher.DispatchController, error);
  }

  onBodySent(chunk: Buffer): void {
    this.handler.onBodySent?.(chunk);
  }

  onRequestSent(): void {
    this.handler.onRequestSent?.();
  }

  onResponseStarted(): void {
    this.handler.onResponseStarted?.();
  }
}
