/**
 * Runs one client of the hot-path benchmark alone, for profiling:
 *
 * ```sh
 * ./node_modules/.bin/node --import tsx --cpu-prof --cpu-prof-dir=/tmp/prof bench/profile.ts --client resilient --requests 100000
 * ```
 *
 * `--client raw|resilient|interceptors` (default resilient), `--requests N` (default 50000),
 * `--concurrency N` (default 32), `--endpoints N` (default 1), `--agent-options JSON` (extra
 * ResilientAgent options, e.g. `'{"maxConnectionAge":0}'`). Prints requests per second and client
 * CPU per request. The server runs in a child process (bench/server.ts), names resolve through the
 * lab DNS server.
 *
 * @module
 */
import { parseArgs } from 'node:util';
import { Agent, type Dispatcher, interceptors, Pool, request } from 'undici';
import { ResilientAgent } from './subject.js';
import type { ResilienceOptions } from '../src/core/options.js';
import { DnsServer } from '../src/lab/dns-server.js';
import { dnsAddress, hotAddresses, interceptorLookup, ServerProcess } from './lib.js';

const { values } = parseArgs({
  options: {
    client: { type: 'string', default: 'resilient' },
    requests: { type: 'string', default: '50000' },
    concurrency: { type: 'string', default: '32' },
    endpoints: { type: 'string', default: '1' },
    'agent-options': { type: 'string', default: '{}' },
    first: { type: 'string' },
  },
});
const requests = Number(values.requests);
const concurrency = Number(values.concurrency);
const endpoints = Number(values.endpoints);

async function get(url: string, dispatcher: Dispatcher): Promise<void> {
  const { statusCode, body } = await request(url, { dispatcher });
  await body.text();
  if (statusCode !== 200) throw new Error(`unexpected status ${statusCode}`);
}

async function drive(send: () => Promise<void>, n: number): Promise<number> {
  let issued = 0;
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (issued < n) {
        issued++;
        await send();
      }
    }),
  );
  return performance.now() - t0;
}

const dnsServer = new DnsServer({ address: dnsAddress, port: 0 });
await dnsServer.start();
const addresses = hotAddresses(endpoints);
dnsServer.setRecords('hot.bench.test', { a: addresses, ttl: 5 });
const server = await ServerProcess.start(addresses);
function makeClient(name: string): { dispatcher: Dispatcher; url: string; close: () => Promise<void> } {
  const ipUrl = `http://${addresses[0]}:${server.port}/`;
  const nameUrl = `http://hot.bench.test:${server.port}/`;
  if (name === 'raw') {
    const a = new Agent();
    return { dispatcher: a, url: ipUrl, close: () => a.close() };
  }
  if (name === 'pool') {
    // The floor: undici's Pool on the IP origin, no Agent in front.
    const a = new Pool(ipUrl.slice(0, -1));
    return { dispatcher: a, url: ipUrl, close: () => a.close() };
  }
  if (name === 'interceptors') {
    const a = new Agent();
    return { dispatcher: a.compose(interceptors.dns({ lookup: interceptorLookup(dnsServer.server) }), interceptors.retry()), url: nameUrl, close: () => a.close() };
  }
  if (name !== 'resilient') throw new RangeError(`--client must be raw, pool, interceptors or resilient; got ${name}`);
  const extra = JSON.parse(values['agent-options']) as ResilienceOptions;
  const a = new ResilientAgent({ ...extra, dns: { servers: [dnsServer.server], search: [], ...extra.dns } });
  return { dispatcher: a, url: nameUrl, close: () => a.close() };
}

const { dispatcher, url, close: closeIt } = makeClient(values.client);
if (values.first) {
  // Another client first, in this process: shows what sharing undici's code with it costs.
  const other = makeClient(values.first);
  await drive(() => get(other.url, other.dispatcher), requests);
  await other.close();
}
try {
  await drive(() => get(url, dispatcher), Math.min(5_000, requests));
  const cpu0 = process.cpuUsage();
  const ms = await drive(() => get(url, dispatcher), requests);
  const cpu = process.cpuUsage(cpu0);
  const { acceptedConnections } = await server.usage();
  console.log(
    `${values.client}: ${Math.round((requests / ms) * 1000)} req/s, ${((cpu.user + cpu.system) / requests).toFixed(1)} µs CPU per request, ${acceptedConnections} connections`,
  );
} finally {
  await closeIt();
  await server.stop();
  await dnsServer.stop();
}
