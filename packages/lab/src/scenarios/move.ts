/**
 * `move`: a single-replica service's pod moves to a new address; DNS follows late.
 * @module
 */
import { replacementScenario } from './replacement.js';
import type { ScenarioDefinition } from './types.js';

/** Builds a move scenario (GET `move`, or POST `post-move`). */
export function moveScenario(name: 'move' | 'post-move', method: 'GET' | 'POST'): ScenarioDefinition {
  return replacementScenario({
    name,
    title: method === 'GET' ? 'A pod moves: its old address refuses, DNS catches up late' : 'A pod moves while clients POST: who fails, who sends twice',
    summary:
      method === 'GET'
        ? 'One replica. The pod is rescheduled: the old address refuses connections at once, the new pod is up, but DNS keeps answering the old address until the endpoint change reaches it. Clients that re-resolve and retry ride it out; the others fail until their DNS cache and pools let go.'
        : 'The same move, with POST requests (not idempotent). A refused connection never reached the server, so a retry is safe; a request cut after it was sent may have run. Each request carries a unique id and the pods count executions, so the table shows failures and any request executed twice.',
    method,
    replicas: 1,
    fault: 'refuse',
    label: 'pod moved',
    faultText: 'inventory-1 stops: its address refuses connections; inventory-2 is up at a new address',
    dnsNote: 'after the move',
  });
}

/** `move`: GET traffic. */
export const move = moveScenario('move', 'GET');
