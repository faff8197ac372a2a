/**
 * `node-death`: a single-replica service's node dies; its address goes silent.
 * @module
 */
import { replacementScenario } from './replacement.js';

/** `node-death` (root): the old pod's address is blackholed instead of refusing. */
export const nodeDeath = replacementScenario({
  name: 'node-death',
  title: 'The node dies: the old address goes silent',
  summary:
    'As a move, but the old pod sits on a node that died: packets to its address are dropped (iptables DROP), so connects hang instead of being refused and requests on pooled keep-alive connections never get an answer. Clients without short connect and response timeouts hang for seconds or minutes.',
  method: 'GET',
  replicas: 1,
  fault: 'blackhole',
  label: 'node died',
  faultText: "inventory-1's address is blackholed (every packet to it dropped); inventory-2 is up at a new address",
  dnsNote: 'later; in a real cluster the node is noticed only after ~40 s',
});
