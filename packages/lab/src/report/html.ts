/**
 * The self-contained HTML report of a lab run: inline CSS and server-drawn SVG, no script, no
 * network. One section per scenario with a timeline per client (success rate, then every request's
 * latency), the moments of the move and of the DNS change marked on it, and the physical bound: the
 * windows with no reachable endpoint shaded, the least latency a request sent in one could have.
 * @module
 */
import { formatMs } from '../progress.js';
import type { ClientInfo, ClientName, ClientRun, LabEvent, LabResult, ScenarioResult, UnavailabilityWindow } from '../types.js';
import { errorsText, formatExcess, stallWarningMs, windowsText } from './table.js';

/** Colour of each client in charts and labels. */
export const clientColors: Readonly<Record<ClientName, string>> = {
  fetch: '#56636f',
  'undici-interceptors': '#d9822b',
  got: '#2f6fb0',
  ridethrough: '#7a4cc2',
  'ridethrough-k8s': '#1f8a8a',
};

const okColor = '#3a9d5d';
const boundColor = '#b3541e';
const failColor = '#d33f49';
const eventColors: Readonly<Record<LabEvent['kind'], string>> = {
  pod: '#3d4852',
  dns: '#1f6fd1',
  fault: '#c0262f',
  recover: '#2f8f52',
  scale: '#8a5a2b',
};
const podColors = ['#4e79a7', '#f28e2b', '#59a14f', '#e15759', '#76b7b2', '#edc948', '#b07aa1', '#ff9da7', '#9c755f', '#bab0ac'];

/** Escapes text for HTML content and attribute values. */
export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

const n1 = (v: number): string => String(Math.round(v * 10) / 10);

/** Renders the whole report as one HTML document. */
export function renderHtmlReport(result: LabResult): string {
  const ran = result.scenarios.filter((s) => s.status === 'ran');
  const body = [
    header(result),
    summaryMatrix(result),
    ...result.scenarios.map((s) => scenarioSection(s, result)),
    clientsSection(result.clients),
    aboutSection(result),
  ].join('\n');
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>ridethrough lab ${ran.length > 0 ? `${escapeHtml(ran.map((s) => s.name).join(', '))}` : ''}</title>
<style>${css}</style>
</head>
<body>
<main>
${body}
</main>
</body>
</html>
`;
}

function header(result: LabResult): string {
  const { settings, environment } = result;
  const started = new Date(result.startedAt);
  return `<header>
<h1>ridethrough lab <span class="sub">who survives a pod move</span></h1>
<p class="lede">Each scenario replays, on this machine's loopback, what a Kubernetes client sees when pods move, die or restart: real HTTP servers on 127.0.1xx.x addresses, a real DNS server that answers late, real iptables blackholes. Every client sends the same requests at the same moments, ${settings.rate} per second each.</p>
<p class="meta">${escapeHtml(started.toUTCString())} · Node ${escapeHtml(environment.node)} · ${escapeHtml(environment.platform)} · undici ${escapeHtml(environment.undici)} · ${environment.root ? 'root' : 'not root'} · lab timeout ${settings.timeout} s</p>
</header>`;
}

function successRate(c: ClientRun): number {
  return c.sent === 0 ? NaN : c.succeeded / c.sent;
}

/** Background for a success rate: green at 100 %, amber around 95 %, red below 80 %. */
function rateColor(rate: number): string {
  if (Number.isNaN(rate)) return '#eef0f2';
  if (rate >= 1) return '#d6f0df';
  if (rate >= 0.99) return '#e9f4d4';
  if (rate >= 0.95) return '#fbeec9';
  if (rate >= 0.8) return '#fbdcc4';
  return '#f8cfd1';
}

function pct(rate: number): string {
  if (Number.isNaN(rate)) return '–';
  if (rate >= 1) return '100 %';
  return `${(Math.floor(rate * 1000) / 10).toFixed(1)} %`;
}

function summaryMatrix(result: LabResult): string {
  const clients = result.settings.clients;
  const head = clients.map((c) => `<th><span class="swatch" style="background:${clientColors[c]}"></span>${escapeHtml(c)}</th>`).join('');
  const rows = result.scenarios.map((s) => {
    const stalled = (s.eventLoop?.maxMs ?? 0) > stallWarningMs;
    const flag = stalled ? ` <span class="stall" title="the machine was busy: the lab stalled up to ${s.eventLoop!.maxMs} ms">⚠ busy machine</span>` : '';
    const name = `<th class="scn"><a href="#${s.name}">${escapeHtml(s.name)}</a><small>${escapeHtml(s.method)}${flag}</small></th>`;
    if (s.status !== 'ran') {
      return `<tr class="skipped">${name}<td colspan="${clients.length}">${escapeHtml(s.status)}: ${escapeHtml(s.reason ?? '')}</td></tr>`;
    }
    const cells = clients.map((name) => {
      const c = s.clients.find((x) => x.client === name);
      if (!c || c.status === 'skipped') return `<td class="na">skipped</td>`;
      const rate = successRate(c);
      const detail = [
        c.failed > 0 ? `${c.failed} failed` : 'no failures',
        c.latency ? `p99 ${formatMs(c.latency.p99)}` : '',
        c.bound ? `${formatExcess(c.bound.excess.p99)} over the bound` : '',
        c.post && c.post.duplicated > 0 ? `${c.post.duplicated} duplicated` : '',
      ]
        .filter(Boolean)
        .join(' · ');
      return `<td style="background:${rateColor(rate)}"><b>${pct(rate)}</b><small>${escapeHtml(detail)}</small></td>`;
    });
    return `<tr>${name}${cells.join('')}</tr>`;
  });
  return `<section class="summary">
<h2>Summary</h2>
<p>Share of requests that succeeded, per scenario and client (latency of successful requests, and its p99 above the scenario's physical bound). Click a scenario for its timeline.</p>
<table class="matrix"><thead><tr><th></th>${head}</tr></thead><tbody>${rows.join('\n')}</tbody></table>
</section>`;
}

function scenarioSection(s: ScenarioResult, result: LabResult): string {
  const timing = `<ol class="timing">${s.timing.map((t) => `<li>${escapeHtml(t)}</li>`).join('')}</ol>`;
  const head = `<h2 id="${s.name}">${escapeHtml(s.name)} <span class="sub">${escapeHtml(s.title)}</span></h2>
<p>${escapeHtml(s.summary)}</p>`;
  if (s.status !== 'ran') {
    return `<section class="scenario skipped">${head}<p class="reason"><b>${escapeHtml(s.status)}</b>: ${escapeHtml(s.reason ?? '')}</p>${timing}</section>`;
  }
  const ran = s.clients.filter((c) => c.status === 'ran');
  const chart = timelineChart(s, ran, result.settings.timeout * 1000);
  const spread = ran.some((c) => c.spread) ? spreadChart(s, ran) : '';
  const stall =
    (s.eventLoop?.maxMs ?? 0) > stallWarningMs
      ? `<p class="warn">The machine was busy during this scenario: the lab's event loop (shared by pods and clients) stalled for up to ${s.eventLoop!.maxMs} ms, so some latencies include that stall for every client alike.</p>`
      : '';
  return `<section class="scenario">
${head}
${stall}
<div class="cols"><div><h3>Timeline</h3>${timing}</div><div>${eventsList(s.events)}${boundNote(s)}</div></div>
<figure>${chart}<figcaption>Per client: the share of requests sent in each ${bucketLabel(s)} slice that succeeded (green) or failed (red), then the latency of every request by the time it was sent (dots: success; <span class="x">×</span>: failure, at the time it took to fail). Dashed lines: what happened when. Shaded: no endpoint a client could know of was reachable; <span class="b">the brown line</span> is the least latency a request sent then could have (the rest of the window).</figcaption></figure>
${spread}
${numbersTable(s)}
${podsTable(s)}
</section>`;
}

function boundNote(s: ScenarioResult): string {
  const text =
    s.windows.length === 0
      ? "An endpoint a client could know of was reachable all along: the bound is 0, any latency is the client's own."
      : `No endpoint a client could know of was reachable ${s.windows.map((w) => `from ${(w.from / 1000).toFixed(2)} s to ${(w.to / 1000).toFixed(2)} s`).join(' and ')}: a request sent then cannot succeed before the window ends.`;
  return `<h3>Physical bound</h3><p class="bound-note" data-windows="${s.windows.length}" title="${escapeHtml(windowsText(s))}">${escapeHtml(text)}</p>`;
}

function bucketLabel(s: ScenarioResult): string {
  const first = s.clients.find((c) => c.timeline.length > 1);
  const ms = first ? first.timeline[1]!.t - first.timeline[0]!.t : 250;
  return formatMs(ms);
}

function eventsList(events: readonly LabEvent[]): string {
  if (events.length === 0) return '';
  return `<h3>What happened</h3><ul class="events">${events
    .map((e) => `<li><span class="dot" style="background:${eventColors[e.kind]}"></span><b>${(e.t / 1000).toFixed(2)} s</b> ${escapeHtml(e.label)}</li>`)
    .join('')}</ul>`;
}

// ---- charts -------------------------------------------------------------------------------

const W = 980;
const X0 = 196;
const X1 = 960;
const EVENT_BAND = 46;
const SUCCESS_H = 26;
const LAT_H = 78;
const ROW_GAP = 22;
const ROW_H = SUCCESS_H + 6 + LAT_H + ROW_GAP;

function timelineChart(s: ScenarioResult, clients: readonly ClientRun[], timeoutMs: number): string {
  const x = (t: number): number => X0 + (Math.max(0, Math.min(t, s.durationMs)) / s.durationMs) * (X1 - X0);
  const maxLatency = Math.max(1, ...clients.map((c) => c.latency?.max ?? 0), ...clients.flatMap((c) => c.samples.map((p) => p[1])));
  const yTop = Math.max(timeoutMs, maxLatency) * 1.25;
  const yBottom = 0.2;
  const height = EVENT_BAND + clients.length * ROW_H + 22;
  const parts: string[] = [];

  clients.forEach((c, i) => {
    const top = EVENT_BAND + i * ROW_H;
    parts.push(clientRow(c, s.windows, top, x, yBottom, yTop));
  });
  parts.push(eventMarkers(s.events, x, height - 22, true));
  parts.push(timeAxis(s.durationMs, x, height - 22));
  return `<svg class="timeline" viewBox="0 0 ${W} ${height}" width="${W}" height="${height}" role="img" aria-label="${escapeHtml(`timeline of ${s.name}`)}" data-scenario="${s.name}">${parts.join('')}</svg>`;
}

function clientRow(c: ClientRun, windows: readonly UnavailabilityWindow[], top: number, x: (t: number) => number, yBottom: number, yTop: number): string {
  const color = clientColors[c.client];
  const rate = successRate(c);
  const out: string[] = [`<g class="client" data-client="${c.client}">`];
  // Label column.
  out.push(`<text x="0" y="${top + 14}" class="cname" fill="${color}">${escapeHtml(c.client)}</text>`);
  out.push(`<text x="0" y="${top + 32}" class="cstat">${pct(rate)} ok · ${c.failed} failed</text>`);
  if (c.latency) out.push(`<text x="0" y="${top + 48}" class="cstat">p50 ${formatMs(c.latency.p50)} · p99 ${formatMs(c.latency.p99)}</text>`);
  if (c.latency) out.push(`<text x="0" y="${top + 64}" class="cstat">max ${formatMs(c.latency.max)}</text>`);
  if (c.bound) {
    out.push(`<text x="0" y="${top + 80}" class="cstat">p99 ${formatExcess(c.bound.excess.p99)} over bound</text>`);
    out.push(`<text x="0" y="${top + 96}" class="cstat">max ${formatExcess(c.bound.excess.max)} over bound</text>`);
  }
  if (c.post)
    out.push(
      `<text x="0" y="${top + 112}" class="cstat${c.post.duplicated > 0 ? ' bad' : ''}">${c.post.duplicated} duplicated · ${c.post.executedButFailed} ran+failed</text>`,
    );

  // Success panel: per slice, green up to the success share, red above it.
  const sTop = top;
  out.push(`<rect x="${X0}" y="${sTop}" width="${X1 - X0}" height="${SUCCESS_H}" class="panel"/>`);
  let green = '';
  let red = '';
  const step = c.timeline.length > 1 ? c.timeline[1]!.t - c.timeline[0]!.t : 250;
  for (const b of c.timeline) {
    if (b.sent === 0) continue;
    const xa = x(b.t);
    const w = Math.max(0.5, x(b.t + step) - xa);
    const hOk = (b.ok / b.sent) * SUCCESS_H;
    if (hOk > 0) green += `M${n1(xa)} ${n1(sTop + SUCCESS_H - hOk)}h${n1(w)}v${n1(hOk)}h${n1(-w)}z`;
    if (hOk < SUCCESS_H) red += `M${n1(xa)} ${n1(sTop)}h${n1(w)}v${n1(SUCCESS_H - hOk)}h${n1(-w)}z`;
  }
  out.push(`<path d="${green}" fill="${okColor}" class="ok-area"/><path d="${red}" fill="${failColor}" class="fail-area"/>`);
  out.push(`<text x="${X0 - 6}" y="${sTop + 10}" class="tick end">100%</text><text x="${X0 - 6}" y="${sTop + SUCCESS_H}" class="tick end">0</text>`);

  // Latency panel, log scale.
  const lTop = top + SUCCESS_H + 6;
  const ly = (ms: number): number => {
    const v = Math.log10(Math.max(yBottom, ms));
    const a = Math.log10(yBottom);
    const b = Math.log10(yTop);
    return lTop + LAT_H - ((v - a) / (b - a)) * LAT_H;
  };
  out.push(`<rect x="${X0}" y="${lTop}" width="${X1 - X0}" height="${LAT_H}" class="panel"/>`);
  out.push(boundDrawing(windows, x, ly, sTop, lTop + LAT_H, lTop));
  for (const tick of [1, 10, 100, 1_000, 10_000, 100_000]) {
    if (tick > yTop || tick < yBottom) continue;
    const y = n1(ly(tick));
    out.push(
      `<line x1="${X0}" x2="${X1}" y1="${y}" y2="${y}" class="grid"/><text x="${X0 - 6}" y="${n1(ly(tick) + 3.5)}" class="tick end">${tick >= 1000 ? `${tick / 1000} s` : `${tick} ms`}</text>`,
    );
  }
  let dots = '';
  let crosses = '';
  let okCount = 0;
  let failCount = 0;
  for (const [t, ms, ok] of c.samples) {
    const px = n1(x(t));
    const py = n1(ly(ms));
    if (ok) {
      dots += `M${px} ${py}h0`;
      okCount++;
    } else {
      crosses += `M${n1(x(t) - 2.5)} ${n1(ly(ms) - 2.5)}l5 5m0-5l-5 5`;
      failCount++;
    }
  }
  out.push(`<path d="${dots}" class="pts" stroke="${color}" data-points="${okCount}"/>`);
  out.push(`<path d="${crosses}" class="fails" data-points="${failCount}"/>`);
  out.push('</g>');
  return out.join('');
}

/**
 * The windows with no reachable endpoint, shaded over both panels, and in the latency panel the
 * bound of a request sent at t in a window, `to − t`, falling to 0 at the window's end.
 */
function boundDrawing(
  windows: readonly UnavailabilityWindow[],
  x: (t: number) => number,
  ly: (ms: number) => number,
  top: number,
  bottom: number,
  latencyTop: number,
): string {
  if (windows.length === 0) return '';
  const out: string[] = ['<g class="window">'];
  let curve = '';
  for (const w of windows) {
    out.push(
      `<rect x="${n1(x(w.from))}" y="${top}" width="${n1(Math.max(0.5, x(w.to) - x(w.from)))}" height="${bottom - top}" class="window-band" data-from="${w.from}" data-to="${w.to}"/>`,
    );
    // On the log scale the line bends: sample it, ending where the bound falls below the panel.
    const steps = 48;
    for (let i = 0; i <= steps; i++) {
      const t = w.from + ((w.to - w.from) * i) / steps;
      const y = Math.min(bottom, Math.max(latencyTop, ly(w.to - t)));
      curve += `${i === 0 ? 'M' : 'L'}${n1(x(t))} ${n1(y)}`;
    }
  }
  out.push(`<path d="${curve}" class="bound" stroke="${boundColor}"/></g>`);
  return out.join('');
}

function eventMarkers(events: readonly LabEvent[], x: (t: number) => number, bottom: number, labels: boolean): string {
  const out: string[] = [];
  const rowsEnd = [-Infinity, -Infinity, -Infinity];
  for (const e of events) {
    const px = x(e.t);
    const label = `${e.label} ${(e.t / 1000).toFixed(1)} s`;
    const width = label.length * 6.3 + 8;
    // Labels near the right edge extend to the left of their line.
    const flip = px + width > W;
    const start = flip ? px - width : px;
    let row = rowsEnd.findIndex((end) => end < start - 2);
    if (row === -1) row = rowsEnd.indexOf(Math.min(...rowsEnd));
    rowsEnd[row] = flip ? px + 2 : px + width;
    const ly = 12 + row * 14;
    const color = eventColors[e.kind];
    const text = labels
      ? `<text x="${n1(flip ? px - 3 : px + 3)}" y="${ly}" fill="${color}" class="elabel${flip ? ' end' : ''}">${escapeHtml(label)}</text>`
      : '';
    out.push(
      `<g class="event" data-kind="${e.kind}"><line x1="${n1(px)}" x2="${n1(px)}" y1="${labels ? ly + 3 : 0}" y2="${bottom}" stroke="${color}" class="marker"/>${text}</g>`,
    );
  }
  return out.join('');
}

function timeAxis(durationMs: number, x: (t: number) => number, y: number): string {
  const out: string[] = [`<line x1="${X0}" x2="${X1}" y1="${y}" y2="${y}" class="axis"/>`];
  const step = durationMs > 20_000 ? 5_000 : durationMs > 10_000 ? 2_000 : 1_000;
  for (let t = 0; t <= durationMs + 1; t += step) {
    out.push(
      `<line x1="${n1(x(t))}" x2="${n1(x(t))}" y1="${y}" y2="${y + 4}" class="axis"/><text x="${n1(x(t))}" y="${y + 16}" class="tick mid">${t / 1000} s</text>`,
    );
  }
  out.push(`<text x="0" y="${y + 16}" class="tick">time sent →</text>`);
  return out.join('');
}

function spreadChart(s: ScenarioResult, clients: readonly ClientRun[]): string {
  const pods = s.pods.map((p) => p.name);
  const color = (pod: string): string => podColors[Math.max(0, pods.indexOf(pod)) % podColors.length]!;
  const rowH = 44;
  const height = 20 + clients.length * (rowH + 12) + 22;
  const x = (t: number): number => X0 + (Math.max(0, Math.min(t, s.durationMs)) / s.durationMs) * (X1 - X0);
  const out: string[] = [];
  clients.forEach((c, i) => {
    const top = 20 + i * (rowH + 12);
    out.push(`<text x="0" y="${top + 16}" class="cname" fill="${clientColors[c.client]}">${escapeHtml(c.client)}</text>`);
    out.push(`<rect x="${X0}" y="${top}" width="${X1 - X0}" height="${rowH}" class="panel"/>`);
    const buckets = c.spread ?? [];
    const step = buckets.length > 1 ? buckets[1]!.t - buckets[0]!.t : 500;
    const paths = new Map<string, string>();
    for (const b of buckets) {
      const total = Object.values(b.byPod).reduce((a, v) => a + v, 0);
      if (total === 0) continue;
      let y = top + rowH;
      const xa = x(b.t);
      const w = Math.max(0.5, x(b.t + step) - xa - 1);
      for (const pod of pods) {
        const v = b.byPod[pod] ?? 0;
        if (v === 0) continue;
        const h = (v / total) * rowH;
        y -= h;
        paths.set(pod, `${paths.get(pod) ?? ''}M${n1(xa)} ${n1(y)}h${n1(w)}v${n1(h)}h${n1(-w)}z`);
      }
    }
    for (const [pod, d] of paths) out.push(`<path d="${d}" fill="${color(pod)}" class="share" data-pod="${escapeHtml(pod)}"/>`);
  });
  out.push(eventMarkers(s.events, x, height - 22, false));
  out.push(timeAxis(s.durationMs, x, height - 22));
  const legend = pods.map((p) => `<span><span class="swatch" style="background:${color(p)}"></span>${escapeHtml(p)}</span>`).join(' ');
  return `<figure><h3>Where requests went</h3><svg class="spread" viewBox="0 0 ${W} ${height}" width="${W}" height="${height}" role="img" aria-label="traffic share per pod">${out.join('')}</svg><figcaption>Share of each client's successful requests served by each pod, per slice of send time. <span class="legend">${legend}</span></figcaption></figure>`;
}

// ---- tables -------------------------------------------------------------------------------

function numbersTable(s: ScenarioResult): string {
  const post = s.method === 'POST';
  const head = `<tr><th>client</th><th>sent</th><th>ok</th><th>failed</th><th>p50</th><th>p99</th><th>max</th><th title="p99 and largest physical bound of the same successful requests">bound p99 / max</th><th title="p99 latency minus p99 bound">p99 − bound</th><th title="max latency minus max bound">max − bound</th>${post ? '<th>executed</th><th title="request ids executed more than once">duplicated</th><th title="failed at the client, yet executed by a pod">ran+failed</th>' : ''}<th>failures by code</th></tr>`;
  const rows = s.clients.map((c) => {
    if (c.status === 'skipped')
      return `<tr><td>${escapeHtml(c.client)}</td><td colspan="${post ? 13 : 10}" class="na">skipped: ${escapeHtml(c.reason ?? '')}</td></tr>`;
    const lat = (k: 'p50' | 'p99' | 'max'): string => (c.latency ? formatMs(c.latency[k]) : '–');
    const b = c.bound;
    const boundCells = b
      ? `<td>${b.max === 0 ? '0' : `${formatMs(b.p99)} / ${formatMs(b.max)}`}</td><td class="excess">${formatExcess(b.excess.p99)}</td><td class="excess">${formatExcess(b.excess.max)}</td>`
      : '<td>–</td><td>–</td><td>–</td>';
    const postCells =
      post && c.post
        ? `<td>${c.post.executed}</td><td class="${c.post.duplicated > 0 ? 'bad' : ''}">${c.post.duplicated}</td><td>${c.post.executedButFailed}</td>`
        : '';
    return `<tr><td><span class="swatch" style="background:${clientColors[c.client]}"></span>${escapeHtml(c.client)}</td><td>${c.sent}</td><td>${c.succeeded}</td><td class="${c.failed > 0 ? 'bad' : 'good'}">${c.failed}</td><td>${lat('p50')}</td><td>${lat('p99')}</td><td>${lat('max')}</td>${boundCells}${postCells}<td class="codes">${escapeHtml(errorsText(c)) || '–'}</td></tr>`;
  });
  return `<div class="wide-table"><table class="numbers"><thead>${head}</thead><tbody>${rows.join('')}</tbody></table></div>`;
}

function podsTable(s: ScenarioResult): string {
  if (s.pods.length === 0) return '';
  const clients = s.clients.map((c) => c.client);
  const raced = s.pods.some((p) => p.raced > 0);
  const rows = s.pods
    .map(
      (p) =>
        `<tr><td>${escapeHtml(p.name)}</td><td><code>${escapeHtml(p.address)}</code></td>${clients.map((c) => `<td>${p.served[c] ?? 0}</td>`).join('')}${raced ? `<td>${p.raced}</td>` : ''}</tr>`,
    )
    .join('');
  return `<details class="pods"><summary>Pods and what they executed</summary><table class="numbers"><thead><tr><th>pod</th><th>address</th>${clients.map((c) => `<th>${escapeHtml(c)}</th>`).join('')}${raced ? '<th>closed as a request arrived</th>' : ''}</tr></thead><tbody>${rows}</tbody></table></details>`;
}

function clientsSection(clients: readonly ClientInfo[]): string {
  const rows = clients
    .map(
      (c) =>
        `<tr><th><span class="swatch" style="background:${clientColors[c.name]}"></span>${escapeHtml(c.name)}${c.available ? '' : `<small class="bad">skipped: ${escapeHtml(c.reason ?? '')}</small>`}</th><td>${escapeHtml(c.description)}</td><td>${escapeHtml(c.resolution)}</td></tr>`,
    )
    .join('');
  return `<section class="clients"><h2 id="clients">The clients</h2>
<p>Each client runs with its defaults. The lab's names exist only in the lab's DNS server (on 127.0.100.53), so each client is pointed at it the way it would use a pod's resolver.</p>
<table class="numbers wide"><thead><tr><th>client</th><th>setup</th><th>name resolution</th></tr></thead><tbody>${rows}</tbody></table></section>`;
}

function aboutSection(result: LabResult): string {
  return `<section class="about"><h2>How the lab works</h2>
<ul>
<li>Pods are Node HTTP servers on loopback addresses 127.0.1xx.x (one /24 per scenario), port 8080 unless it is taken. A pod executes a request once its body has arrived and counts it by its <code>x-request-id</code>.</li>
<li>The service name (<code>inventory.&lt;scenario&gt;.svc.cluster.local</code>) is answered by the lab's own UDP DNS server with a TTL of 5 s (CoreDNS's default), several records in an order that rotates every 50 ms (CoreDNS's loadbalance plugin). "DNS updated" marks when it starts answering the new addresses.</li>
<li>Requests leave on a random (Poisson) schedule, the same for every client, ${result.settings.rate} per second per client, all clients at once. The lab stops waiting for a request after ${result.settings.timeout} s and counts it as <code>LAB_TIMEOUT</code>.</li>
<li>Blackholes and lost responses are iptables DROP rules in the <code>RT-LAB</code> chain (jumped to from INPUT); the virtual address of scale-up is a DNAT rule in the nat table's <code>RT-LAB</code> chain (jumped to from OUTPUT). Both are removed when the lab ends. These scenarios need root.</li>
<li>The physical bound: a scenario tells the lab when it takes an endpoint away and the lab knows when DNS publishes one. While none of the addresses ever published is reachable, no client can succeed; a request sent then cannot finish before the window ends, any other could finish at once. "Over the bound" is a client's latency minus that bound (p99 against p99, max against max, over its successful requests): what its timeouts, backoff and caches cost.</li>
<li>Run it yourself: <code>npm run demo</code> in a clone of the repository, after <code>npm install</code> (add <code>-- --help</code> for options), or <code>npx ridethrough-lab</code> there.</li>
</ul></section>`;
}

const css = `
:root{--fg:#1d232a;--muted:#5f6b76;--line:#dde2e7;--bg:#fff;--panel:#f6f7f9}
*{box-sizing:border-box}
body{margin:0;background:#eef1f4;color:var(--fg);font:14px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,"Helvetica Neue",Arial,sans-serif}
main{max-width:1040px;margin:0 auto;padding:24px 20px 60px}
header,section{background:var(--bg);border-radius:10px;padding:20px 26px;margin:0 0 18px;box-shadow:0 1px 2px rgba(20,30,40,.08)}
h1{font-size:26px;margin:0 0 8px}
h2{font-size:20px;margin:0 0 8px}
h3{font-size:13px;text-transform:uppercase;letter-spacing:.04em;color:var(--muted);margin:10px 0 6px}
.sub{font-weight:400;color:var(--muted);font-size:.8em;margin-left:6px}
.lede{font-size:15px;max-width:860px}
.meta{color:var(--muted);font-size:12px;margin:0}
a{color:#1f5fbf;text-decoration:none}a:hover{text-decoration:underline}
code{font:12px ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;background:var(--panel);padding:1px 4px;border-radius:4px}
.swatch{display:inline-block;width:10px;height:10px;border-radius:2px;margin-right:6px;vertical-align:-1px}
table{border-collapse:collapse}
.matrix{width:100%;table-layout:fixed}
.matrix th,.matrix td{border:1px solid #fff;padding:7px 10px;text-align:left;vertical-align:top}
.matrix thead th{font-weight:600;background:var(--panel)}
.matrix th.scn{background:var(--panel);width:170px}
.matrix th.scn small{display:block;color:var(--muted);font-weight:400}
.matrix td b{display:block;font-size:16px}
.matrix td small{display:block;color:var(--muted);font-size:11.5px;line-height:1.3}
.matrix tr.skipped td{background:#f3f4f6;color:var(--muted);font-size:12.5px}
.matrix td.na{background:#f3f4f6;color:var(--muted)}
.cols{display:grid;grid-template-columns:3fr 2fr;gap:24px}
.timing{margin:0;padding-left:18px;color:#333;font-size:13px}
.events{list-style:none;margin:0;padding:0;font-size:13px}
.events .dot{display:inline-block;width:8px;height:8px;border-radius:50%;margin-right:6px}
.events b{font-variant-numeric:tabular-nums;margin-right:4px}
figure{margin:14px 0 6px}
figcaption{color:var(--muted);font-size:12px;margin-top:4px;max-width:900px}
figcaption .x{color:${failColor};font-weight:700}
svg{display:block;max-width:100%;height:auto;font-family:inherit}
svg .panel{fill:var(--panel)}
svg .grid{stroke:#e3e7eb;stroke-width:1}
svg .axis{stroke:#9aa5af;stroke-width:1}
svg .tick{font-size:10px;fill:#7b8792}
svg .tick.end{text-anchor:end}
svg .tick.mid{text-anchor:middle}
svg .cname{font-size:13px;font-weight:700}
svg .cstat{font-size:11px;fill:#4a5560}
svg .cstat.bad{fill:${failColor};font-weight:600}
svg .pts{fill:none;stroke-width:3.2;stroke-linecap:round;stroke-opacity:.55}
svg .fails{fill:none;stroke:${failColor};stroke-width:1.3;stroke-opacity:.85}
svg .window-band{fill:${boundColor};fill-opacity:.09}
svg .bound{fill:none;stroke-width:1.6;stroke-dasharray:5 2;opacity:.9}
figcaption .b{color:${boundColor};font-weight:600}
.bound-note{font-size:13px;margin:0}
svg .marker{stroke-width:1.2;stroke-dasharray:4 3;opacity:.8}
svg .elabel{font-size:11px;font-weight:600}
svg .elabel.end{text-anchor:end}
.numbers{margin:12px 0 4px;font-size:13px;font-variant-numeric:tabular-nums}
.numbers th,.numbers td{border-bottom:1px solid var(--line);padding:5px 9px 5px 0;text-align:right;vertical-align:top}
.numbers th:first-child,.numbers td:first-child,.numbers td.codes,.numbers th:last-child{text-align:left}
.numbers td{white-space:nowrap}.numbers td.codes{white-space:normal;overflow-wrap:anywhere}
.wide-table{overflow-x:auto}
.numbers.wide td,.numbers.wide th{text-align:left;font-variant-numeric:normal;padding-right:16px}
.numbers.wide th small{display:block;font-weight:400}
.numbers.wide th:first-child{white-space:nowrap}
.numbers thead th{color:var(--muted);font-weight:600;font-size:12px}
.good{color:#2a7a47}.bad{color:${failColor};font-weight:600}
.na{color:var(--muted)}
.codes{font:12px ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;color:#444}
details.pods{margin-top:8px;font-size:13px}details.pods summary{cursor:pointer;color:var(--muted)}
.scenario.skipped{opacity:.8}
.reason{background:#f3f4f6;border-radius:6px;padding:8px 12px}
.stall{color:#9a6b00;font-size:11px;margin-left:4px}
.warn{background:#fff6dd;border-left:3px solid #e0a800;border-radius:4px;padding:6px 12px;font-size:13px}
.legend span{margin-right:10px;white-space:nowrap}
.about ul{padding-left:18px;margin:0}
@media (max-width:760px){.cols{grid-template-columns:1fr}}
`;
