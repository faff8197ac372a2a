import { Readable } from 'node:stream';

/**
 * A request body as ridethrough sees it: replayable bodies can be sent again on a retry;
 * a one-shot body (a stream, an async iterable) can be sent again only if it was never read.
 * @internal
 */
export class RequestBody {
  /** The body of every request without one (immutable: nothing to track). */
  private static readonly none = new RequestBody(undefined);

  /**
   * The body of a request: a shared instance when there is none.
   * @param body - the body from the dispatch options
   * @param replay - bytes known to equal the body (from resilientFetch)
   */
  static of(body: unknown, replay?: Uint8Array | string | null): RequestBody {
    return body == null && replay === undefined ? RequestBody.none : new RequestBody(body, replay);
  }

  private started = false;
  /** The value to hand to undici for the next attempt. */
  readonly value: unknown;
  /** Whether the body can be sent any number of times. */
  readonly replayable: boolean;

  /**
   * @param body - the body from the dispatch options
   * @param replay - bytes known to equal the body (from resilientFetch), which make any body replayable
   */
  constructor(body: unknown, replay?: Uint8Array | string | null) {
    if (replay !== undefined) {
      this.value = replay;
      this.replayable = true;
    } else if (body == null || typeof body === 'string' || body instanceof Uint8Array || ArrayBuffer.isView(body)) {
      this.value = body;
      this.replayable = true;
    } else if (isBlobLike(body)) {
      this.value = body;
      this.replayable = true;
    } else if (body instanceof Readable) {
      // Handed to undici as it is, so undici sees a stream (a content-length when it has ended, its errors
      // and destroy); it counts as read once an attempt reached a connection (markSent), when undici reads it.
      this.value = body;
      this.replayable = false;
      this.opaque = true;
    } else if (isAsyncIterable(body)) {
      // Track whether undici ever starts reading: an unread one-shot body can still go to another endpoint.
      const source = body as AsyncIterable<unknown>;
      // eslint-disable-next-line @typescript-eslint/no-this-alias
      const self = this;
      this.value = {
        [Symbol.asyncIterator]() {
          self.started = true;
          return source[Symbol.asyncIterator]();
        },
      };
      this.replayable = false;
    } else {
      // Something undici accepts that we cannot inspect (FormData and the like): one attempt on a connection only.
      this.value = body;
      this.replayable = false;
      this.opaque = true;
    }
  }

  /** True for a body of unknown kind, which counts as read once an attempt has started. */
  readonly opaque: boolean = false;

  /** Marks an opaque body as sent. */
  markSent(): void {
    this.started = true;
  }

  /** Whether the body can be sent (again) now. */
  get canSend(): boolean {
    return this.replayable || !this.started;
  }
}

function isAsyncIterable(v: unknown): boolean {
  return v !== null && typeof v === 'object' && typeof (v as { [Symbol.asyncIterator]?: unknown })[Symbol.asyncIterator] === 'function';
}

function isBlobLike(v: unknown): boolean {
  return typeof Blob !== 'undefined' && v instanceof Blob;
}
