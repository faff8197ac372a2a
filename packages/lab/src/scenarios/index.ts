/**
 * Every scenario, by name.
 * @module
 */
import type { ScenarioName } from '../types.js';
import { dnsOutage } from './dns-outage.js';
import { k8sMove } from './k8s-move.js';
import { k8sRollingRestart } from './k8s-rolling-restart.js';
import { keepaliveRace } from './keepalive-race.js';
import { lostResponse } from './lost-response.js';
import { move } from './move.js';
import { nodeDeath } from './node-death.js';
import { postMove } from './post-move.js';
import { replicaBlackhole } from './replica-blackhole.js';
import { replicaLoss } from './replica-loss.js';
import { rollingRestart } from './rolling-restart.js';
import { scaleUp } from './scale-up.js';
import type { ScenarioDefinition } from './types.js';

/** Every scenario definition, by name. */
export const scenarioDefinitions: Readonly<Record<ScenarioName, ScenarioDefinition>> = {
  move,
  'node-death': nodeDeath,
  'replica-loss': replicaLoss,
  'replica-blackhole': replicaBlackhole,
  'dns-outage': dnsOutage,
  'post-move': postMove,
  'lost-response': lostResponse,
  'rolling-restart': rollingRestart,
  'keepalive-race': keepaliveRace,
  'scale-up': scaleUp,
  'k8s-move': k8sMove,
  'k8s-rolling-restart': k8sRollingRestart,
};

export { ScenarioSkip, type ScenarioContext, type ScenarioDefinition } from './types.js';
