/**
 * The fixture of a compatibility test file: a DNS server that knows no names (so nothing reaches the
 * machine's resolver, and a name nobody published fails as ENOTFOUND), the file's servers, and the base
 * options every dispatcher of the file is built from (ridethrough's `dns` key; undici ignores it).
 */
import { afterAll, afterEach, beforeAll } from 'vitest';
import { DnsServer } from '@ridethrough/testbed';
import { type CompatServer, type IpCert, type ServerOptions, makeIpCert, startServer } from './servers.js';

/** What {@link useCompatScope} gives a test file. */
export interface CompatScope {
  /** The DNS server (no records unless a test adds them). */
  readonly dns: DnsServer;
  /** Options every dispatcher of the file starts from. */
  base(): { dns: { servers: string[]; search: string[]; hostsFile: false; family: 4 } };
  /** Starts a server on `address`, closed after the test. */
  server(options: Omit<ServerOptions, 'cert'> & { cert?: IpCert }): Promise<CompatServer>;
  /** The certificate of the file's https servers (valid for the file's https address). */
  readonly cert: IpCert;
  /** Registers a cleanup run after the current test. */
  defer(fn: () => unknown): void;
}

/**
 * Registers the hooks of a compatibility test file.
 * @param dnsAddress - the DNS server's loopback address
 * @param httpsAddress - the address the file's https servers listen on (the certificate is for it)
 */
export function useCompatScope(dnsAddress: string, httpsAddress: string): CompatScope {
  const dns = new DnsServer({ address: dnsAddress, port: 0 });
  const cleanups: (() => unknown)[] = [];
  const cert = makeIpCert(httpsAddress);
  beforeAll(() => dns.start());
  afterAll(() => dns.stop());
  afterEach(async () => {
    for (const fn of cleanups.splice(0).reverse()) await fn();
  });
  return {
    dns,
    cert,
    base: () => ({ dns: { servers: [dns.server], search: [], hostsFile: false, family: 4 } }),
    async server(options) {
      const s = await startServer({ cert, ...options });
      cleanups.push(() => s.close());
      return s;
    },
    defer: (fn) => cleanups.push(fn),
  };
}
