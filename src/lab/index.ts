/**
 * The ride-through lab: replays pod moves, node deaths, DNS outages and restarts on loopback and
 * shows, side by side, which HTTP clients survive them.
 *
 * ```ts
 * import { runLab, renderTable } from './lab/index.js';
 * const result = await runLab({ scenarios: ['move', 'dns-outage'], report: './lab-report/index.html' });
 * process.stdout.write(renderTable(result));
 * ```
 * @module
 */
export { runLab, labDnsAddress, labDnsPort } from './run.js';
export { clientNames, labDefaults, scenarioNames, type LabOptions } from './options.js';
export { renderTable } from './report/table.js';
export { renderHtmlReport } from './report/html.js';
export type {
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
} from './types.js';
