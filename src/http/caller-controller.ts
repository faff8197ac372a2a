import type { Dispatcher } from 'undici';

/** The part of an attempt the caller's controller reaches: its undici controller, once on a connection. */
interface ControlledAttempt {
  readonly controller: Dispatcher.DispatchController | undefined;
}

/**
 * The controller the caller's handler holds (undici's `DispatchController`): abort, pause and resume
 * reach whichever attempt is current. The request flow extends it, so a request is one object, not two.
 * @internal
 */
export abstract class CallerController implements Dispatcher.DispatchController {
  /** The response's raw headers, as the caller's controller shows them. */
  rawHeaders: Buffer[] | string[] | null = null;
  /** The response's raw trailers, as the caller's controller shows them. */
  rawTrailers: Buffer[] | string[] | null = null;
  /** The attempt whose response was handed to the caller, or the latest one started. */
  current: ControlledAttempt | undefined = undefined;
  private abortReason: Error | null = null;
  /** Whether the caller paused the response. */
  protected isPaused = false;

  /** Whether the caller aborted the request. */
  get aborted(): boolean {
    return this.abortReason !== null;
  }

  /** Why the caller aborted, if it did. */
  get reason(): Error | null {
    return this.abortReason;
  }

  /** Whether the caller paused the response. */
  get paused(): boolean {
    return this.isPaused;
  }

  /** Caller abort: the first reason wins; the request stops wherever it is. */
  abort(reason: Error): void {
    if (this.abortReason) return;
    this.abortReason = reason ?? new DOMException('The operation was aborted.', 'AbortError');
    this.callerAborted(this.abortReason);
  }

  /** Pauses the response (backpressure from the caller). */
  pause(): void {
    this.isPaused = true;
    this.current?.controller?.pause();
  }

  /** Resumes a paused response. */
  resume(): void {
    this.isPaused = false;
    this.current?.controller?.resume();
  }

  /** Stops the request for the caller's abort. */
  protected abstract callerAborted(reason: Error): void;
}
