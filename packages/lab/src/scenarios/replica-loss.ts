/**
 * `replica-loss`: one of three replicas stops and is replaced at a new address.
 * @module
 */
import { replacementScenario } from './replacement.js';

/** `replica-loss`: one replica of three refuses, DNS drops it late. */
export const replicaLoss = replacementScenario({
  name: 'replica-loss',
  title: 'One replica of three is replaced',
  summary:
    'Three replicas behind one name (a headless service). One stops and is replaced at a new address; DNS keeps listing the dead one for a while. A client that tries another address after a refusal loses nothing; one that sticks to the dead address fails.',
  method: 'GET',
  replicas: 3,
  fault: 'refuse',
  label: 'replica replaced',
  faultText: 'inventory-2 stops (refuses connections); inventory-4 is up at a new address',
  dnsNote: 'later',
});
