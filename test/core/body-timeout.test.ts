/**
 * bodyTimeout is ridethrough's own timer: it fires when no body chunk arrived for that long, however the
 * response started, and time the caller spends paused (backpressure) does not count. Real parts only:
 * HTTP servers on 127.0.48.x, reached by address.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { request } from 'undici';
import { afterEach, describe, expect, it } from 'vitest';
import { ResilientAgent } from '../../src/index.js';

const servers: http.Server[] = [];
const agents: ResilientAgent[] = [];
afterEach(async () => {
  await Promise.all(agents.splice(0).map((a) => a.destroy()));
  for (const s of servers.splice(0)) {
    s.closeAllConnections();
    s.close();
  }
});

async function serve(address: string, handler: http.RequestListener): Promise<string> {
  const s = http.createServer(handler);
  servers.push(s);
  await new Promise<void>((resolve) => s.listen(0, address, resolve));
  return `http://${address}:${(s.address() as AddressInfo).port}`;
}

function agent(bodyTimeout: number): ResilientAgent {
  const a = new ResilientAgent({ bodyTimeout, dns: { hostsFile: false } });
  agents.push(a);
  return a;
}

describe('bodyTimeout', () => {
  it("a body that stalls after a first chunk fails with undici's UND_ERR_BODY_TIMEOUT once no chunk came for bodyTimeout", async () => {
    const url = await serve('127.0.48.1', (_req, res) => {
      res.writeHead(200, { 'content-length': '10' });
      res.write('12345');
    });
    const res = await request(url, { dispatcher: agent(200) });
    expect(res.statusCode).toBe(200);
    const started = performance.now();
    const err = await res.body.text().then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toMatchObject({ code: 'UND_ERR_BODY_TIMEOUT' });
    // The mechanism, with a generous margin: within a few hundred ms, not undici's second-scale tick.
    expect(performance.now() - started).toBeLessThan(2_000);
  });

  it('chunks that keep coming, each within bodyTimeout, keep the response alive past bodyTimeout in total', async () => {
    const url = await serve('127.0.48.2', (_req, res) => {
      res.writeHead(200, { 'content-length': '6' });
      let n = 0;
      const tick = setInterval(() => {
        res.write('x');
        if (++n === 6) {
          clearInterval(tick);
          res.end();
        }
      }, 60);
    });
    const res = await request(url, { dispatcher: agent(200) });
    expect(await res.body.text()).toBe('xxxxxx');
  });

  it('time the caller spends paused (not reading, backpressure) does not count', async () => {
    const big = Buffer.alloc(4 * 1024 * 1024, 1);
    const url = await serve('127.0.48.3', (_req, res) => {
      res.writeHead(200, { 'content-length': String(big.length) });
      res.end(big);
    });
    const res = await request(url, { dispatcher: agent(150), highWaterMark: 1024 });
    // The stream's buffer fills and undici pauses the response while nobody reads.
    await sleep(600);
    const body = Buffer.from(await res.body.arrayBuffer());
    expect(body.length).toBe(big.length);
  });
});
