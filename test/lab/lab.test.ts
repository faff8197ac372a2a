import { execFileSync, spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { clientNames, labDefaults, type LabResult, renderTable, runCli, runLab } from '@ridethrough/lab';
import { importOptional } from '../../packages/lab/src/clients/types.js';

/** The lab's program, as `npm run demo` starts it. */
const labBin = 'packages/lab/bin/ridethrough-lab.js';

const isRoot = typeof process.getuid === 'function' && process.getuid() === 0;
const hasIptables = (() => {
  try {
    execFileSync('iptables', ['--version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
})();
const canFirewall = isRoot && hasIptables;
if (!canFirewall) {
  const why = isRoot ? 'iptables is not installed' : 'not running as root';
  if (process.env.CI === 'true') throw new Error(`lab tests need root and iptables under CI (${why})`);
  console.warn(`test/lab/lab.test.ts: skipping the iptables tests: ${why}`);
}

/** Whether the lab's chain exists in a table. */
function chainExists(table: 'filter' | 'nat'): boolean {
  try {
    execFileSync('iptables', ['-w', '5', '-t', table, '-S', 'RT-LAB'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

/** Collects what a stream receives. */
function sink(): { stream: PassThrough; text: () => string } {
  const stream = new PassThrough();
  let text = '';
  stream.on('data', (c: Buffer) => (text += c.toString()));
  return { stream, text: () => text };
}

const dirs: string[] = [];
afterAll(async () => {
  await Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true })));
});

describe('runLab: move and dns-outage', () => {
  let result: LabResult;
  let reportPath: string;

  beforeAll(async () => {
    const dir = await mkdtemp(join(tmpdir(), 'rt-lab-'));
    dirs.push(dir);
    reportPath = join(dir, 'report', 'index.html');
    // 8 s: dns-outage needs an outage longer than the 5 s a pod resolver waits before asking again.
    result = await runLab({ scenarios: ['dns-outage', 'move'], rate: 20, duration: 8, report: reportPath });
  }, 150_000);

  it('returns the documented JSON shape', () => {
    expect(result.tool).toBe('ridethrough-lab');
    expect(result.version).toBe(1);
    expect(result.settings).toMatchObject({
      scenarios: ['move', 'dns-outage'],
      clients: [...clientNames],
      rate: 20,
      duration: 8,
      timeout: labDefaults.timeout,
    });
    expect(result.clients.map((c) => c.name)).toEqual([...clientNames]);
    for (const c of result.clients) {
      expect(c.available).toBe(true);
      expect(c.resolution.length).toBeGreaterThan(20);
    }
    expect(result.scenarios.map((s) => s.name)).toEqual(['move', 'dns-outage']);
    // JSON round trip: nothing that JSON cannot carry.
    expect(JSON.parse(JSON.stringify(result))).toEqual(result);
    for (const s of result.scenarios) {
      expect(s.status).toBe('ran');
      expect(s.durationMs).toBe(8_000);
      expect(s.timing.length).toBeGreaterThan(2);
      expect(s.pods.length).toBeGreaterThan(0);
      expect(s.clients.map((c) => c.client)).toEqual([...clientNames]);
      for (const c of s.clients) {
        expect(c.status).toBe('ran');
        expect(c.sent).toBeGreaterThan(100);
        expect(c.succeeded + c.failed).toBe(c.sent);
        expect(Object.values(c.errors).reduce((a, b) => a + b, 0)).toBe(c.failed);
        expect(c.samples).toHaveLength(c.sent);
        expect(c.timeline.reduce((a, b) => a + b.sent, 0)).toBe(c.sent);
        if (c.succeeded > 0) {
          expect(c.latency).not.toBeNull();
          expect(c.latency!.p50).toBeLessThanOrEqual(c.latency!.p99);
          expect(c.latency!.p99).toBeLessThanOrEqual(c.latency!.max);
        }
        expect(c.post).toBeUndefined();
        expect(c.bound).not.toBeNull();
        expect(c.bound!.p99).toBeLessThanOrEqual(c.bound!.max);
        expect(c.bound!.excess.p99).toBeCloseTo(c.latency!.p99 - c.bound!.p99, 0);
        expect(c.bound!.excess.max).toBeCloseTo(c.latency!.max - c.bound!.max, 0);
      }
    }
  });

  it('derives the physical bound from the scenario timeline: the move leaves a window, the DNS outage none', () => {
    const move = result.scenarios.find((s) => s.name === 'move')!;
    expect(move.windows).toHaveLength(1);
    const [w] = move.windows;
    const [moved, dns] = move.events;
    // The old pod stops in the "pod moved" action; the window ends when DNS answers the new pod.
    expect(w!.from).toBeGreaterThanOrEqual(moved!.t - 1);
    expect(w!.to).toBeGreaterThanOrEqual(dns!.t - 1);
    expect(w!.to - w!.from).toBeGreaterThan(1_500);
    expect(w!.to - w!.from).toBeLessThan(2_500);
    for (const c of move.clients) expect(c.bound!.max).toBeLessThanOrEqual(w!.to - w!.from + 1);
    // ridethrough succeeded requests sent early in the window, so their bounds are large.
    expect(move.clients.find((c) => c.client === 'ridethrough')!.bound!.max).toBeGreaterThan(1_000);
    const outage = result.scenarios.find((s) => s.name === 'dns-outage')!;
    expect(outage.windows).toEqual([]);
    for (const c of outage.clients) expect(c.bound).toMatchObject({ p99: 0, max: 0, excess: { max: c.latency!.max } });
  });

  it('marks the move and the DNS change, and the DNS outage, on the timeline', () => {
    const move = result.scenarios.find((s) => s.name === 'move')!;
    expect(move.events.map((e) => e.kind)).toEqual(['pod', 'dns']);
    expect(move.events[1]!.t - move.events[0]!.t).toBeGreaterThan(1_500);
    const outage = result.scenarios.find((s) => s.name === 'dns-outage')!;
    expect(outage.events.map((e) => e.kind)).toEqual(['fault', 'recover']);
  });

  it('ridethrough rides out both windows; plain fetch does not', () => {
    for (const s of result.scenarios) {
      const byName = Object.fromEntries(s.clients.map((c) => [c.client, c]));
      expect(byName.ridethrough!.failed, `${s.name}: ridethrough failures ${JSON.stringify(byName.ridethrough!.errors)}`).toBe(0);
      expect(byName.fetch!.failed, `${s.name}: plain fetch should fail in the window`).toBeGreaterThan(0);
    }
    const move = result.scenarios.find((s) => s.name === 'move')!;
    expect(Object.keys(move.clients.find((c) => c.client === 'fetch')!.errors)).toContain('ECONNREFUSED');
  });

  it('writes a self-contained HTML report with every scenario', async () => {
    expect(result.report).toBe(reportPath);
    const html = await readFile(reportPath, 'utf8');
    expect(html.startsWith('<!doctype html>')).toBe(true);
    for (const s of result.scenarios) {
      expect(html).toContain(`id="${s.name}"`);
      expect(html).toContain(`data-scenario="${s.name}"`);
    }
    for (const name of clientNames) expect(html).toContain(`data-client="${name}"`);
    // No external resources: nothing fetched from a network.
    expect(html).not.toMatch(/<script|<link|src="http|href="http|url\(http/i);
    expect(html).toContain('class="window-band"');
    expect(html).toContain('p99 − bound');
  });

  it('renders the text table', () => {
    const table = renderTable(result);
    expect(table).toMatch(/^ridethrough lab/);
    expect(table).toContain('failures by code');
    expect(table).toContain('p99−bound');
    expect(table).toMatch(/Physical bound: .*move no endpoint reachable \d+\.\d\d–\d+\.\d\d s/);
    for (const s of result.scenarios) expect(table).toContain(s.name);
    for (const name of clientNames) expect(table).toContain(name);
    expect(table).toContain(`Report: ${reportPath}`);
  });
});

describe('optional peer clients', () => {
  it('a peer package that is not installed loads as undefined (its client is then listed as skipped)', async () => {
    await expect(importOptional('ridethrough-lab-no-such-package')).resolves.toBeUndefined();
    await expect(importOptional<typeof import('got')>('got')).resolves.toHaveProperty('default');
  });
});

describe('runLab option validation', () => {
  it('rejects bad options with messages naming them', async () => {
    await expect(runLab({ rate: 0 })).rejects.toThrow(/"rate".*1 to 500/);
    await expect(runLab({ duration: 2 })).rejects.toThrow(RangeError);
    await expect(runLab({ timeout: Number.NaN })).rejects.toThrow(TypeError);
    await expect(runLab({ scenarios: ['move', 'teleport'] })).rejects.toThrow(/unknown scenario "teleport"; pick from move, node-death/);
    await expect(runLab({ clients: ['curl'] })).rejects.toThrow(/unknown client "curl"/);
    await expect(runLab({ scenarios: [] })).rejects.toThrow(/no scenario given/);
    await expect(runLab({ report: '' })).rejects.toThrow(/"report"/);
  });
});

describe('ridethrough-lab CLI', () => {
  it('prints help with every scenario and client', async () => {
    const out = sink();
    const err = sink();
    expect(await runCli(['--help'], { stdout: out.stream, stderr: err.stream })).toBe(0);
    expect(out.text()).toMatch(/^Usage: ridethrough-lab \[options\]/);
    for (const option of ['--scenario', '--clients', '--rate', '--duration', '--json', '--report']) expect(out.text()).toContain(option);
    for (const name of ['move', 'node-death', 'dns-outage', 'lost-response', 'scale-up', ...clientNames]) expect(out.text()).toContain(name);
    expect(err.text()).toBe('');
  });

  it.each([
    [['--rate', 'fast'], /--rate must be a number, got "fast"/],
    [['--rate', '0'], /option "rate" must be a number of requests per second from 1 to 500, got 0/],
    [['--duration', '1'], /option "duration" must be a number of seconds from 4 to 120, got 1/],
    [['--scenario', 'move,warp'], /unknown scenario "warp"/],
    [['--clients', 'fetch,axios'], /unknown client "axios"/],
    [['--frobnicate'], /Unknown option '--frobnicate'/],
    [['--report', 'a.html', '--no-report'], /cannot be used together/],
    [['lab'], /positional/i],
  ])('rejects %j with exit code 2', async (argv, message) => {
    const out = sink();
    const err = sink();
    expect(await runCli(argv, { stdout: out.stream, stderr: err.stream })).toBe(2);
    expect(err.text()).toMatch(message);
    expect(err.text()).toContain('See ridethrough-lab --help.');
    expect(out.text()).toBe('');
  });

  it.each([
    ['the package bin', labBin],
    ['the workspace link npx runs', 'node_modules/.bin/ridethrough-lab'],
  ])('runs as a program through %s: `ridethrough-lab --help` exits 0', async (_what, program) => {
    const child = spawn(process.execPath, [program, '--help'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    const [code] = (await once(child, 'exit')) as [number];
    expect(code, stderr).toBe(0);
    expect(stdout).toContain('Usage: ridethrough-lab');
  });
});

describe.skipIf(!canFirewall)('lab iptables rules (root)', () => {
  it('scale-up spreads traffic through the DNAT rules and removes the RT-LAB chains afterwards', async () => {
    const result = await runLab({ scenarios: ['scale-up'], clients: ['ridethrough', 'fetch'], rate: 10, duration: 4 });
    const s = result.scenarios[0]!;
    expect(s.status, s.reason).toBe('ran');
    expect(s.events.map((e) => e.kind)).toEqual(['scale']);
    expect(s.pods).toHaveLength(6);
    for (const c of s.clients) {
      expect(c.failed).toBe(0);
      const served = new Set(c.spread!.flatMap((b) => Object.keys(b.byPod)));
      expect(served.size).toBeGreaterThan(0);
      for (const pod of served) expect(pod).toMatch(/^inventory-[1-6]$/);
    }
    expect(chainExists('filter')).toBe(false);
    expect(chainExists('nat')).toBe(false);
  }, 60_000);

  it('SIGINT during a blackhole scenario removes the rules and exits 130', async () => {
    const child = spawn(process.execPath, [labBin, '--scenario', 'node-death', '--clients', 'ridethrough', '--rate', '5', '--no-report'], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stderr = '';
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    const exited = once(child, 'exit') as Promise<[number | null, NodeJS.Signals | null]>;
    // Wait until the blackhole is in place (the chain has a DROP rule), then interrupt.
    const deadline = Date.now() + 20_000;
    let sawRule = false;
    while (Date.now() < deadline && !sawRule) {
      await new Promise((r) => setTimeout(r, 200));
      try {
        sawRule = execFileSync('iptables', ['-w', '5', '-S', 'RT-LAB'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).includes('DROP');
      } catch {
        // not created yet
      }
    }
    expect(sawRule, `the blackhole rule never appeared; stderr: ${stderr}`).toBe(true);
    child.kill('SIGINT');
    const [code] = await exited;
    expect(code).toBe(130);
    expect(chainExists('filter')).toBe(false);
    expect(execFileSync('iptables', ['-w', '5', '-S', 'INPUT'], { encoding: 'utf8' })).not.toContain('RT-LAB');
  }, 60_000);
});
