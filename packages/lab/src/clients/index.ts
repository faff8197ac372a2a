/**
 * The clients the lab compares, by name.
 * @module
 */
import type { ClientName } from '../types.js';
import { fetchClient } from './fetch.js';
import { gotClient } from './got.js';
import { ridethroughClient } from './ridethrough.js';
import { ridethroughK8sClient } from './ridethrough-k8s.js';
import type { ClientDefinition } from './types.js';
import { undiciInterceptorsClient } from './undici-interceptors.js';

/** Every client definition, by name. */
export const clientDefinitions: Readonly<Record<ClientName, ClientDefinition>> = {
  fetch: fetchClient,
  'undici-interceptors': undiciInterceptorsClient,
  got: gotClient,
  ridethrough: ridethroughClient,
  'ridethrough-k8s': ridethroughK8sClient,
};

export type { ClientDefinition, ClientEnvironment, LabClient, LabRequest, LabResponse } from './types.js';
