/**
 * HTTPS through ridethrough: the endpoint pools dial pod IPs, while TLS verifies the certificate
 * against the host name and sends it as SNI, and the Host header keeps it too; a refused pod is ridden
 * through on another; a certificate that does not match the name fails at once, without retries.
 * Both `ResilientAgent` (host-name pools with a pinned lookup) and the `resilience()` interceptor
 * (IP origins with a servername). Real parts only: a UDP DNS server and an HTTPS server with an openssl
 * certificate, on 127.0.38.x.
 */
import https from 'node:https';
import type { TLSSocket } from 'node:tls';
import { Agent, request } from 'undici';
import { describe, expect, it } from 'vitest';
import { resilience } from '../../src/index.js';
import { errorCode } from '../../src/policy/failure.js';
import { makeCert } from '../support/certs.js';
import { rejection, useScope } from '../support/scope.js';

const PORT = 18_038;
const { dns, dnsOptions, defer, agent: newAgent } = useScope({ dnsAddress: '127.0.38.53', port: PORT, dns: { family: 4, hostsFile: false } });
const cert = makeCert('secure.rt.test');

interface Seen {
  readonly servername: string | false | null;
  readonly host: string | undefined;
}

/** An HTTPS pod: answers `secure` and records the SNI name and Host header of each request. */
async function startHttpsPod(address: string): Promise<{ seen: Seen[]; connections: () => number }> {
  const seen: Seen[] = [];
  let connections = 0;
  const server = https.createServer({ key: cert.key, cert: cert.cert }, (req, res) => {
    seen.push({ servername: (req.socket as TLSSocket).servername, host: req.headers.host });
    req.resume();
    res.end('secure');
  });
  server.on('secureConnection', () => connections++);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(PORT, address, () => resolve());
  });
  defer(
    () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  );
  return { seen, connections: () => connections };
}

describe('HTTPS', () => {
  it('ResilientAgent: the certificate is checked against the host name, sent as SNI and Host; a refused pod is ridden through', async () => {
    const pod = await startHttpsPod('127.0.38.1');
    // 127.0.38.2 has no listener: whichever goes first, every request ends on the live pod.
    dns.setRecords('secure.rt.test', { a: ['127.0.38.2', '127.0.38.1'] });
    // Round-robin, so the refused pod is certainly tried (it is then ejected).
    const agent = newAgent({ tls: { ca: cert.cert }, balancer: 'round-robin', backoff: { initialDelay: 5, maxDelay: 20 } });
    for (let i = 0; i < 4; i++) {
      const res = await request(`https://secure.rt.test:${PORT}/items`, { dispatcher: agent });
      expect(res.statusCode).toBe(200);
      expect(await res.body.text()).toBe('secure');
    }
    expect(pod.seen).toHaveLength(4);
    for (const s of pod.seen) expect(s).toEqual({ servername: 'secure.rt.test', host: `secure.rt.test:${PORT}` });
    // Kept alive: undici alternates back-to-back requests over at most two connections.
    expect(pod.connections()).toBeLessThanOrEqual(2);
    const stats = agent.stats[`https://secure.rt.test:${PORT}`];
    expect(stats?.endpoints.find((e) => e.address === '127.0.38.2')).toMatchObject({ state: 'ejected' });
  });

  it('ResilientAgent: a certificate for another name fails at once and is not retried', async () => {
    const pod = await startHttpsPod('127.0.38.3');
    dns.setRecords('impostor.rt.test', { a: ['127.0.38.3'] });
    const agent = newAgent({ tls: { ca: cert.cert }, maxAttempts: 5, backoff: { initialDelay: 5, maxDelay: 20 } });
    const err = await rejection(request(`https://impostor.rt.test:${PORT}/`, { dispatcher: agent }));
    expect(errorCode(err)).toBe('ERR_TLS_CERT_ALTNAME_INVALID');
    expect(pod.seen).toEqual([]);
    expect(pod.connections()).toBe(0);
  });

  it('the resilience() interceptor: the same checks with IP origins and a servername', async () => {
    const pod = await startHttpsPod('127.0.38.4');
    dns.setRecords('secure.rt.test', { a: ['127.0.38.5', '127.0.38.4'] });
    const base = new Agent({ connect: { timeout: 1_000, ca: cert.cert } });
    defer(() => base.close());
    const dispatcher = base.compose(resilience({ dns: dnsOptions(), backoff: { initialDelay: 5, maxDelay: 20 } }));
    for (let i = 0; i < 3; i++) {
      const res = await request(`https://secure.rt.test:${PORT}/`, { dispatcher });
      expect(await res.body.text()).toBe('secure');
    }
    for (const s of pod.seen) expect(s).toEqual({ servername: 'secure.rt.test', host: `secure.rt.test:${PORT}` });
  });
});
