import { existsSync } from 'node:fs';
import { mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { chromium, type Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runLab, type LabResult } from '@ridethrough/lab';

const chromiumPath = '/usr/bin/chromium';
const hasChromium = existsSync(chromiumPath);
if (!hasChromium) {
  if (process.env.CI === 'true') throw new Error(`the report browser test needs ${chromiumPath} under CI (apt-get install chromium)`);
  console.warn(`test/lab/report-browser.test.ts: skipping: ${chromiumPath} not found (apt-get install chromium)`);
}

describe.skipIf(!hasChromium)('lab report in a real browser', () => {
  let dir: string;
  let result: LabResult;
  let browser: Browser | undefined;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'rt-lab-report-'));
    result = await runLab({ scenarios: ['move'], clients: ['fetch', 'ridethrough'], rate: 10, duration: 4, timeout: 5, report: join(dir, 'index.html') });
    browser = await chromium.launch({
      executablePath: chromiumPath,
      args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'],
    });
  }, 120_000);

  afterAll(async () => {
    await browser?.close();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('opens without page errors or network requests, and its charts render with data points', async () => {
    const page = await browser!.newPage({ viewport: { width: 1100, height: 900 } });
    const problems: string[] = [];
    const requests: string[] = [];
    page.on('pageerror', (err) => problems.push(`pageerror: ${err.message}`));
    page.on('console', (msg) => {
      if (msg.type() === 'error') problems.push(`console: ${msg.text()}`);
    });
    page.on('request', (req) => requests.push(req.url()));
    const url = pathToFileURL(result.report!).href;
    await page.goto(url, { waitUntil: 'load' });
    expect(problems).toEqual([]);
    expect(requests.filter((r) => r !== url)).toEqual([]);

    await expect(page.title()).resolves.toContain('ridethrough lab');
    const chart = page.locator('svg.timeline[data-scenario="move"]');
    await expect(chart.count()).resolves.toBe(1);
    const box = await chart.boundingBox();
    expect(box!.width).toBeGreaterThan(500);
    expect(box!.height).toBeGreaterThan(200);

    for (const client of ['fetch', 'ridethrough']) {
      const row = chart.locator(`g.client[data-client="${client}"]`);
      const points = Number(await row.locator('path.pts').getAttribute('data-points'));
      const failures = Number(await row.locator('path.fails').getAttribute('data-points'));
      const run = result.scenarios[0]!.clients.find((c) => c.client === client)!;
      expect(points).toBe(run.succeeded);
      expect(failures).toBe(run.failed);
      expect(points).toBeGreaterThan(0);
      // The path of data points is actually drawn with a size on the page.
      const drawn = await row.locator('path.pts').boundingBox();
      expect(drawn!.width).toBeGreaterThan(100);
      const area = await row.locator('path.ok-area').boundingBox();
      expect(area!.width).toBeGreaterThan(100);
    }
    // The window with no reachable endpoint is shaded on every client's row, with the bound drawn in it.
    const window = result.scenarios[0]!.windows[0]!;
    const bands = chart.locator('rect.window-band');
    await expect(bands.count()).resolves.toBe(2);
    await expect(bands.first().getAttribute('data-to')).resolves.toBe(String(window.to));
    expect((await bands.first().boundingBox())!.width).toBeGreaterThan(50);
    expect((await chart.locator('path.bound').first().boundingBox())!.width).toBeGreaterThan(50);
    // The move and the DNS change are marked.
    await expect(chart.locator('g.event').count()).resolves.toBe(2);
    await expect(chart.locator('g.event text').allTextContents()).resolves.toEqual([
      expect.stringMatching(/^pod moved/),
      expect.stringMatching(/^DNS updated/),
    ]);

    const shot = join(dir, 'report.png');
    await page.screenshot({ path: shot, fullPage: true });
    expect((await stat(shot)).size).toBeGreaterThan(20_000);
    await page.close();
  });
});
