/**
 * Counts a ridethrough client's retries from the `ridethrough:attempt` events of its own origins.
 * @module
 */
import diagnosticsChannel from 'node:diagnostics_channel';
import { type AttemptEvent, channelNames } from 'ridethrough';

/** Counts attempts beyond a request's first whose origin's host is `hostname`; stop() unsubscribes. */
export function countRetries(matches: (origin: string) => boolean): { count(): number; stop(): void } {
  let retries = 0;
  const onAttempt = (message: unknown): void => {
    const e = message as AttemptEvent;
    if (e.attempt > 1 && matches(e.origin)) retries++;
  };
  diagnosticsChannel.subscribe(channelNames.attempt, onAttempt);
  return {
    count: () => retries,
    stop: () => diagnosticsChannel.unsubscribe(channelNames.attempt, onAttempt),
  };
}
