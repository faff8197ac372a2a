/**
 * `post-move`: the `move` scenario with POST requests; counts duplicate executions.
 * @module
 */
import { moveScenario } from './move.js';

/** `post-move`: POST traffic through a pod move. */
export const postMove = moveScenario('post-move', 'POST');
