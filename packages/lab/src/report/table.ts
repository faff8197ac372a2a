/**
 * The plain-text table `ridethrough-lab` prints: one row per scenario and client.
 * @module
 */
import { formatMs } from '../progress.js';
import type { ClientRun, LabResult, ScenarioResult } from '../types.js';

interface Column {
  readonly title: string;
  readonly align: 'left' | 'right';
  readonly cell: (s: ScenarioResult, c: ClientRun, first: boolean) => string;
}

const dash = '–';

/** Event-loop stalls above this (ms) are worth a warning: latencies include them. */
export const stallWarningMs = 200;

const columns: readonly Column[] = [
  { title: 'scenario', align: 'left', cell: (s, _c, first) => (first ? s.name : '') },
  { title: 'client', align: 'left', cell: (_s, c) => c.client },
  { title: 'sent', align: 'right', cell: (_s, c) => String(c.sent) },
  { title: 'ok', align: 'right', cell: (_s, c) => String(c.succeeded) },
  { title: 'failed', align: 'right', cell: (_s, c) => String(c.failed) },
  { title: 'ok %', align: 'right', cell: (_s, c) => percent(c) },
  { title: 'retries', align: 'right', cell: (_s, c) => (c.retries === undefined ? dash : String(c.retries)) },
  { title: 'p50', align: 'right', cell: (_s, c) => (c.latency ? formatMs(c.latency.p50) : dash) },
  { title: 'p99', align: 'right', cell: (_s, c) => (c.latency ? formatMs(c.latency.p99) : dash) },
  { title: 'max', align: 'right', cell: (_s, c) => (c.latency ? formatMs(c.latency.max) : dash) },
  { title: 'p99−bound', align: 'right', cell: (_s, c) => (c.bound ? formatExcess(c.bound.excess.p99) : dash) },
  { title: 'max−bound', align: 'right', cell: (_s, c) => (c.bound ? formatExcess(c.bound.excess.max) : dash) },
  { title: 'dup', align: 'right', cell: (_s, c) => (c.post ? String(c.post.duplicated) : dash) },
  { title: 'ran+failed', align: 'right', cell: (_s, c) => (c.post ? String(c.post.executedButFailed) : dash) },
  { title: 'failures by code', align: 'left', cell: (_s, c) => errorsText(c) },
];

/**
 * For a scenario with a scale event: per client, the share of successful requests sent after the
 * event that pods started by it served.
 */
export function newPodShares(s: ScenarioResult): [client: string, share: string][] {
  const scale = s.events.find((e) => e.kind === 'scale');
  if (!scale) return [];
  // Pods are numbered in start order; those that served nothing before the event are the new ones.
  const before = new Set<string>();
  for (const c of s.clients) for (const b of c.spread ?? []) if (b.t < scale.t) for (const pod of Object.keys(b.byPod)) before.add(pod);
  return s.clients
    .filter((c) => c.spread)
    .map((c) => {
      let total = 0;
      let fresh = 0;
      for (const b of c.spread!) {
        if (b.t < scale.t) continue;
        for (const [pod, n] of Object.entries(b.byPod)) {
          total += n;
          if (!before.has(pod)) fresh += n;
        }
      }
      return [c.client, total === 0 ? dash : `${Math.round((fresh / total) * 100)} %`];
    });
}

/** Latency above the bound, signed: `+12 ms`, `−3.0 ms`. */
export function formatExcess(ms: number): string {
  return `${ms < 0 ? '−' : '+'}${formatMs(Math.abs(ms))}`;
}

/** `no endpoint reachable 1.25–3.25 s`, or `always one endpoint reachable` when a scenario had no window. */
export function windowsText(s: ScenarioResult): string {
  if (s.windows.length === 0) return 'always one endpoint reachable (bound 0)';
  return `no endpoint reachable ${s.windows.map((w) => `${(w.from / 1000).toFixed(2)}–${(w.to / 1000).toFixed(2)} s`).join(', ')}`;
}

/** `ECONNREFUSED 98, LAB_TIMEOUT 3` */
export function errorsText(c: ClientRun): string {
  return Object.entries(c.errors)
    .map(([code, n]) => `${code} ${n}`)
    .join(', ');
}

function percent(c: ClientRun): string {
  if (c.sent === 0) return dash;
  const p = (c.succeeded / c.sent) * 100;
  return p === 100 ? '100' : p.toFixed(1);
}

/**
 * Renders the result as a text table (latency of successful requests; `dup` and `ran+failed` for
 * POST scenarios), followed by skipped scenarios and clients with their reasons and a legend.
 */
export function renderTable(result: LabResult): string {
  const rows: string[][] = [];
  const separators = new Set<number>();
  const notes: string[] = [];
  for (const s of result.scenarios) {
    if (s.status !== 'ran') {
      notes.push(`${s.name}: ${s.status} ${dash} ${s.reason ?? ''}`);
      continue;
    }
    if (rows.length > 0) separators.add(rows.length);
    s.clients.forEach((c, i) => {
      if (c.status === 'skipped') {
        rows.push([i === 0 ? s.name : '', c.client, ...Array<string>(columns.length - 3).fill(''), `skipped: ${c.reason ?? ''}`]);
        return;
      }
      rows.push(columns.map((col) => col.cell(s, c, i === 0)));
    });
  }
  const widths = columns.map((col, i) => Math.max(col.title.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: readonly string[]): string =>
    cells
      .map((cell, i) => (i === cells.length - 1 ? cell : columns[i]!.align === 'right' ? cell.padStart(widths[i]!) : cell.padEnd(widths[i]!)))
      .join('  ')
      .trimEnd();
  const rule = widths.map((w, i) => '─'.repeat(i === widths.length - 1 ? Math.max(w, 16) : w)).join('  ');
  const out: string[] = [];
  const { settings, environment } = result;
  out.push(
    `ridethrough lab ${dash} ${settings.rate} req/s per client, Node ${environment.node}, lab timeout ${settings.timeout} s`,
    '',
    line(columns.map((c) => c.title)),
    rule,
  );
  rows.forEach((r, i) => {
    if (separators.has(i)) out.push(rule.replace(/─/g, '·'));
    out.push(line(r));
  });
  if (rows.length === 0) out.push('(no scenario ran)');
  out.push('');
  out.push('Latency is that of successful requests, from send to last body byte. LAB_TIMEOUT: still pending after the lab timeout.');
  out.push(
    'p99−bound, max−bound: latency above the physical bound. A request sent while no endpoint a client could know of was reachable cannot succeed before DNS publishes one: its bound is the rest of that window (0 for any other request). p99 and max of the bounds are taken over the same successful requests.',
  );
  const ran = result.scenarios.filter((s) => s.status === 'ran');
  if (ran.length > 0) out.push(`Physical bound: ${ran.map((s) => `${s.name} ${windowsText(s)}`).join('; ')}.`);
  if (result.scenarios.some((s) => s.method === 'POST' && s.status === 'ran')) {
    out.push('dup: POSTs the pods executed more than once. ran+failed: POSTs the client saw fail although a pod executed them.');
  }
  for (const s of result.scenarios) {
    const shares = s.status === 'ran' ? newPodShares(s) : [];
    if (shares.length > 0) {
      out.push(`${s.name}: share of requests sent after the scale-up that reached the new pods: ${shares.map(([c, p]) => `${c} ${p}`).join(', ')}.`);
    }
  }
  const stalled = result.scenarios.filter((s) => (s.eventLoop?.maxMs ?? 0) > stallWarningMs);
  if (stalled.length > 0) {
    out.push(
      `The machine was busy: the lab's event loop stalled for up to ${Math.max(...stalled.map((s) => s.eventLoop!.maxMs))} ms in ${stalled.map((s) => s.name).join(', ')}; latencies there include the stalls.`,
    );
  }
  for (const note of notes) out.push(note);
  for (const c of result.clients) if (!c.available) out.push(`${c.name}: skipped ${dash} ${c.reason ?? ''}`);
  if (result.report) out.push(`Report: ${result.report}`);
  return `${out.join('\n')}\n`;
}
