import { DnsServer } from '@ridethrough/testbed';
import { afterAll, afterEach, beforeAll, beforeEach } from 'vitest';
import { DnsCache } from '../../../src/resolve/dns-cache.js';
import type { DnsOptions } from '../../../src/resolve/dns-options.js';
import { type ChannelRecorder, recordChannel } from '../../support/cluster.js';

/** A test file's real DNS server and the caches and channel recorders its tests make. */
export interface DnsFixture {
  readonly server: DnsServer;
  /** A cache pointed at the file's server only, with `base` and then `options`; closed after the test. */
  cache(options?: DnsOptions): DnsCache;
  /** Closes a cache the test made itself after the test. */
  track(cache: DnsCache): DnsCache;
  /** Records a diagnostics channel until the test ends. */
  record<T>(name: string): ChannelRecorder<T>;
}

/**
 * Registers the hooks of a DnsCache test file: the server starts before all and stops after all; its
 * log is cleared before each test; after each, caches close, recorders stop and the server answers
 * normally again. Call once, at the top level.
 * @param base - options every cache of the file gets (a search list, hosts file and family are set off by default)
 */
export function useDnsFixture(address: string, base: DnsOptions = {}): DnsFixture {
  const server = new DnsServer({ address, port: 0 });
  const caches: DnsCache[] = [];
  const recorders: ChannelRecorder<unknown>[] = [];
  beforeAll(() => server.start());
  afterAll(() => server.stop());
  beforeEach(() => server.clearLog());
  afterEach(() => {
    for (const c of caches.splice(0)) c.close();
    for (const r of recorders.splice(0)) r.stop();
    server.resume();
    server.setMode('normal');
    server.setDelay(0);
  });
  return {
    server,
    cache(options: DnsOptions = {}): DnsCache {
      const c = new DnsCache({ servers: [server.server], search: [], hostsFile: false, family: 4, ...base, ...options });
      caches.push(c);
      return c;
    },
    track(c: DnsCache): DnsCache {
      caches.push(c);
      return c;
    },
    record<T>(name: string): ChannelRecorder<T> {
      const r = recordChannel<T>(name);
      recorders.push(r as ChannelRecorder<unknown>);
      return r;
    },
  };
}
