/**
 * The progress display on stderr: a live block of lines on a terminal, plain lines otherwise.
 * @module
 */
import type { Writable } from 'node:stream';
import type { TrafficLane } from './traffic.js';
import type { ScenarioResult } from './types.js';

const clearLine = '\u001b[2K';
const up = (n: number): string => (n > 0 ? `\u001b[${n}A` : '');

/** Shows what the lab is doing. Writes nothing when given `false`. */
export class Progress {
  private readonly tty: boolean;
  private drawn = 0;
  private current: { label: string; durationMs: number; lanes: readonly TrafficLane[]; t0: number } | undefined;
  private timer: NodeJS.Timeout | undefined;

  /** @param out - where to write (usually `process.stderr`), or `false` */
  constructor(private readonly out: Writable | false) {
    this.tty = out !== false && (out as Writable & { isTTY?: boolean }).isTTY === true;
  }

  /** A scenario starts sending. */
  start(label: string, durationMs: number, lanes: readonly TrafficLane[], t0: number): void {
    if (this.out === false) return;
    this.current = { label, durationMs, lanes, t0 };
    if (this.tty) {
      this.drawn = 0;
      this.draw();
      this.timer = setInterval(() => this.draw(), 200);
      this.timer.unref();
    } else {
      this.write(`${label}: running for ${(durationMs / 1000).toFixed(1)} s (${lanes.map((l) => l.name).join(', ')})\n`);
    }
  }

  /** The scenario is done: its final lines. */
  finish(result: ScenarioResult): void {
    if (this.out === false) return;
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    const label = this.current?.label ?? result.name;
    const width = Math.max(...result.clients.map((c) => c.client.length));
    const took = this.current ? ` in ${((performance.now() - this.current.t0) / 1000).toFixed(1)} s` : '';
    const lines = [`${label}: ${result.status === 'ran' ? `done${took}` : `${result.status}: ${result.reason ?? ''}`}`];
    if (result.status === 'ran') {
      for (const c of result.clients) {
        if (c.status === 'skipped') {
          lines.push(`  ${c.client.padEnd(width)}  skipped: ${c.reason ?? ''}`);
          continue;
        }
        const errors = Object.entries(c.errors)
          .map(([code, n]) => `${code} ${n}`)
          .join(', ');
        const p99 = c.latency ? `, p99 ${formatMs(c.latency.p99)}` : '';
        lines.push(`  ${c.client.padEnd(width)}  ${c.sent} sent, ${c.succeeded} ok, ${c.failed} failed${errors ? ` (${errors})` : ''}${p99}`);
      }
    }
    this.replace(lines);
    this.drawn = 0;
    this.current = undefined;
  }

  /** A scenario is skipped without running. */
  skip(label: string, reason: string): void {
    if (this.out === false) return;
    this.write(`${label}: skipped: ${reason}\n`);
  }

  /** A free-form line (setup notes). */
  note(text: string): void {
    if (this.out === false) return;
    this.write(`${text}\n`);
  }

  /** Stops the live display. */
  close(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }

  private draw(): void {
    const c = this.current;
    if (!c) return;
    const now = performance.now() - c.t0;
    const elapsed = Math.min(now, c.durationMs);
    const width = 20;
    const filled = Math.round((elapsed / c.durationMs) * width);
    const bar = `${'█'.repeat(filled)}${'░'.repeat(width - filled)}`;
    const pad = Math.max(...c.lanes.map((l) => l.name.length));
    const tail = now > c.durationMs ? ' (waiting for requests in flight)' : '';
    const lines = [`${c.label} ${bar} ${(elapsed / 1000).toFixed(1)}/${(c.durationMs / 1000).toFixed(1)} s${tail}`];
    for (const l of c.lanes) {
      const inFlight = l.sent - l.ok - l.failed;
      lines.push(
        `  ${l.name.padEnd(pad)}  ${String(l.sent).padStart(5)} sent ${String(l.ok).padStart(5)} ok ${String(l.failed).padStart(5)} failed ${String(inFlight).padStart(4)} in flight`,
      );
    }
    this.replace(lines);
  }

  private replace(lines: string[]): void {
    if (!this.tty) {
      this.write(`${lines.join('\n')}\n`);
      return;
    }
    let text = up(this.drawn);
    for (const line of lines) text += `\r${clearLine}${line}\n`;
    // Clear lines left over from a taller block.
    for (let i = lines.length; i < this.drawn; i++) text += `\r${clearLine}\n`;
    if (this.drawn > lines.length) text += up(this.drawn - lines.length);
    this.write(text);
    this.drawn = lines.length;
  }

  private write(text: string): void {
    if (this.out !== false) this.out.write(text);
  }
}

/** `3 ms`, `1.24 s` */
export function formatMs(ms: number): string {
  if (ms < 10) return `${ms.toFixed(1)} ms`;
  if (ms < 1000) return `${Math.round(ms)} ms`;
  return `${(ms / 1000).toFixed(2)} s`;
}
