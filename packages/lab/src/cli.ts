/**
 * The lab's command line: `ridethrough-lab [options]` (in the repository, `npm run demo -- [options]`).
 * @module
 */
import type { Writable } from 'node:stream';
import { parseArgs } from 'node:util';
import { clientNames, kubernetesClientNames, kubernetesScenarioNames, labDefaults, type LabOptions, resolveLabOptions, scenarioNames } from './options.js';
import { renderTable } from './report/table.js';
import { runLab } from './run.js';
import { scenarioDefinitions } from './scenarios/index.js';

/** Where the CLI writes. */
export interface CliIo {
  /** Results (table or JSON). */
  readonly stdout: Writable;
  /** Progress, notes and errors. */
  readonly stderr: Writable;
}

/** A mistake in the command line: printed with a pointer to `--help`, exit code 2. */
export class UsageError extends Error {
  override readonly name = 'UsageError';
}

/** The `--help` text. */
export function helpText(): string {
  const scenarios = [...scenarioNames, ...kubernetesScenarioNames]
    .map((n) => {
      const d = scenarioDefinitions[n];
      return `  ${n.padEnd(18)} ${d.title}${d.needsRoot ? ' (root)' : ''}`;
    })
    .join('\n');
  return `Usage: ridethrough-lab [options]        (in the repository: npm run demo -- [options])

Replays, on loopback, what a Kubernetes client sees when a pod moves, a node dies, DNS goes
silent or a rollout restarts the replicas, and shows side by side which HTTP clients survive:
a table on stdout and an HTML report with a timeline per scenario. Each client's latency is
also given above the scenario's physical bound: a request sent while no endpoint it could know
of was reachable cannot succeed before DNS publishes one.

Options:
  --scenario a,b     scenarios to run (default: all but the k8s-* ones, which run when named)
  --clients a,b      clients to compare (default: all): ${[...clientNames, ...kubernetesClientNames].join(', ')}
  --rate N           requests per second per client, 1-500 (default ${labDefaults.rate})
  --duration S       seconds of traffic per scenario, 4-120 (default: 5; dns-outage 8)
  --timeout S        seconds before the lab gives up on a request, 1-120 (default ${labDefaults.timeout})
  --report PATH      where to write the HTML report (default ${labDefaults.report})
  --no-report        do not write the report
  --json             print the result as JSON on stdout instead of the table
  -h, --help         show this help

Scenarios:
${scenarios}

Scenarios marked (root) use iptables; without root they are listed as skipped.
Progress goes to stderr. Exit code: 0 when the run completed, 1 when the lab failed, 2 on bad options.

Examples:
  npm run demo
  npm run demo -- --scenario move,dns-outage --clients fetch,ridethrough --rate 20
  sudo npm run demo -- --json > lab.json
`;
}

interface CliOptions {
  scenarios?: string[];
  clients?: string[];
  rate?: number;
  duration?: number;
  timeout?: number;
  report: string | false;
  json: boolean;
  help: boolean;
}

/** Parses the command line's arguments. @throws UsageError */
export function parseLabArgs(args: readonly string[]): CliOptions {
  // biome-ignore lint/suspicious/noImplicitAnyLet: TypeScript types it from the assignment below (control-flow typing).
  let parsed;
  try {
    parsed = parseArgs({
      args: [...args],
      strict: true,
      allowPositionals: false,
      options: {
        scenario: { type: 'string', multiple: true },
        scenarios: { type: 'string', multiple: true },
        clients: { type: 'string', multiple: true },
        client: { type: 'string', multiple: true },
        rate: { type: 'string' },
        duration: { type: 'string' },
        timeout: { type: 'string' },
        report: { type: 'string' },
        'no-report': { type: 'boolean' },
        json: { type: 'boolean' },
        help: { type: 'boolean', short: 'h' },
      },
    });
  } catch (err) {
    throw new UsageError((err as Error).message.replace(/\. To specify a positional argument.*$/s, ''));
  }
  const v = parsed.values;
  const list = (a?: string[], b?: string[]): string[] | undefined => {
    const all = [...(a ?? []), ...(b ?? [])];
    if (all.length === 0) return undefined;
    return all
      .flatMap((s) => s.split(','))
      .map((s) => s.trim())
      .filter(Boolean);
  };
  const num = (name: string, text: string | undefined): number | undefined => {
    if (text === undefined) return undefined;
    const n = Number(text);
    if (text.trim() === '' || !Number.isFinite(n)) throw new UsageError(`--${name} must be a number, got ${JSON.stringify(text)}`);
    return n;
  };
  if (v.report !== undefined && v['no-report']) throw new UsageError('--report and --no-report cannot be used together');
  if (v.report === '') throw new UsageError('--report needs a file path');
  return {
    scenarios: list(v.scenario, v.scenarios),
    clients: list(v.clients, v.client),
    rate: num('rate', v.rate),
    duration: num('duration', v.duration),
    timeout: num('timeout', v.timeout),
    report: v['no-report'] ? false : (v.report ?? labDefaults.report),
    json: v.json === true,
    help: v.help === true,
  };
}

function labOptions(options: CliOptions, io: CliIo): LabOptions {
  return {
    scenarios: options.scenarios,
    clients: options.clients,
    rate: options.rate,
    duration: options.duration,
    timeout: options.timeout,
    report: options.report,
    progress: io.stderr,
  };
}

/**
 * Runs the command line and returns the exit code (it does not call `process.exit`).
 * @param argv - arguments after the program name, e.g. `['--scenario', 'move']`
 * @param io - where to write
 */
export async function runCli(argv: readonly string[], io: CliIo = { stdout: process.stdout, stderr: process.stderr }): Promise<number> {
  let options: CliOptions;
  try {
    options = parseLabArgs(argv);
    if (!options.help) resolveLabOptions(labOptions(options, io));
  } catch (err) {
    io.stderr.write(`ridethrough-lab: ${(err as Error).message.replace(/^ridethrough-lab: /, '')}\nSee ridethrough-lab --help.\n`);
    return 2;
  }
  if (options.help) {
    io.stdout.write(helpText());
    return 0;
  }
  try {
    const result = await runLab(labOptions(options, io));
    if (options.json) {
      io.stdout.write(`${JSON.stringify(result)}\n`);
      if (result.report) io.stderr.write(`Report: ${result.report}\n`);
    } else {
      io.stdout.write(renderTable(result));
    }
    return 0;
  } catch (err) {
    io.stderr.write(`ridethrough-lab: ${(err as Error)?.stack ?? String(err)}\n`);
    return 1;
  }
}
