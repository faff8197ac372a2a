/**
 * `replica-blackhole`: one of three replicas goes silent.
 * @module
 */
import { replacementScenario } from './replacement.js';

/** `replica-blackhole` (root): one replica of three is blackholed, DNS drops it late. */
export const replicaBlackhole = replacementScenario({
  name: 'replica-blackhole',
  title: 'One replica of three goes silent (its node died)',
  summary:
    'Three replicas; the node under one of them dies, so its address drops every packet. Requests on connections already open to it hang; new connections to it time out. Short connect and response timeouts plus a retry on another replica hide it; default timeouts do not.',
  method: 'GET',
  replicas: 3,
  fault: 'blackhole',
  label: 'replica blackholed',
  faultText: "inventory-2's address is blackholed; inventory-4 is up at a new address",
  dnsNote: 'later',
});
