import { Dispatcher } from 'undici';
import type { LegacyHandler } from './legacy-handler.js';
import type { FlowExtras } from './request-flow.js';

/** The agent's dispatch with per-request extras (a symbol: not part of the public API). @internal */
export const kDispatchWith = Symbol('ridethrough.dispatchWith');

/** What a view needs of its agent. @internal */
export interface ViewTarget {
  [kDispatchWith](options: Dispatcher.DispatchOptions, handler: Dispatcher.DispatchHandler | LegacyHandler, extras: FlowExtras | undefined): boolean;
  readonly webSocketOptions: { maxFragments: number; maxPayloadSize: number };
  readonly eventSourceOptions: { maxEventSize: number };
}

/**
 * A view of a {@link ResilientAgent} with fixed per-request extras. @internal
 */
export class ResilientView extends Dispatcher {
  /**
   * @param agent - the agent requests go through
   * @param extras - overrides and a replayable body
   */
  constructor(
    private readonly agent: ViewTarget,
    private readonly extras: FlowExtras,
  ) {
    super();
  }

  override dispatch(options: Dispatcher.DispatchOptions, handler: Dispatcher.DispatchHandler): boolean {
    return this.agent[kDispatchWith](options, handler, this.extras);
  }

  /** The agent's WebSocket limits. */
  get webSocketOptions(): { maxFragments: number; maxPayloadSize: number } {
    return this.agent.webSocketOptions;
  }

  /** The agent's EventSource limits. */
  get eventSourceOptions(): { maxEventSize: number } {
    return this.agent.eventSourceOptions;
  }

  /** A view does not own connections: closing it does nothing. */
  override close(): Promise<void>;
  override close(callback: () => void): void;
  override close(callback?: () => void): Promise<void> | void {
    if (callback) {
      queueMicrotask(callback);
      return;
    }
    return Promise.resolve();
  }

  /** A view does not own connections: destroying it does nothing. */
  override destroy(): Promise<void>;
  override destroy(err: Error | null): Promise<void>;
  override destroy(callback: () => void): void;
  override destroy(err: Error | null, callback: () => void): void;
  override destroy(errOrCallback?: Error | null | (() => void), callback?: () => void): Promise<void> | void {
    const cb = typeof errOrCallback === 'function' ? errOrCallback : callback;
    if (cb) {
      queueMicrotask(cb);
      return;
    }
    return Promise.resolve();
  }
}
