/**
 * The ride-through lab: replays pod moves, node deaths, DNS outages and restarts on loopback and
 * shows, side by side, which HTTP clients survive them, and how far each stays above the physical
 * bound of the scenario.
 *
 * ```ts
 * import { runLab, renderTable } from '@ridethrough/lab';
 * const result = await runLab({ scenarios: ['move', 'dns-outage'], report: './lab-report/index.html' });
 * process.stdout.write(renderTable(result));
 * ```
 * @module
 */
export { runLab, labDnsAddress, labDnsPort } from './run.js';
export { clientNames, kubernetesClientNames, kubernetesScenarioNames, labDefaults, scenarioNames, type LabOptions } from './options.js';
export { helpText, runCli, type CliIo, UsageError } from './cli.js';
export { boundSummary, requestBound } from './bound.js';
export { renderTable } from './report/table.js';
export { renderHtmlReport } from './report/html.js';
export type {
  BoundSummary,
  ClientInfo,
  ClientName,
  ClientRun,
  LabEvent,
  LabResult,
  LatencySummary,
  PodSummary,
  PostSummary,
  Sample,
  ScenarioName,
  ScenarioResult,
  SpreadBucket,
  TimelineBucket,
  UnavailabilityWindow,
} from './types.js';
