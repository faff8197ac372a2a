/**
 * How the peer clients resolve the lab's service names: like a pod's `getaddrinfo`, but through the
 * lab's DNS server only (the machine's resolver must never see the lab's names).
 * @module
 */
import { Resolver } from 'node:dns/promises';
import type { LookupAddress, LookupOptions } from 'node:dns';
import { isIP } from 'node:net';

/** Settings of {@link PodResolver}; the defaults are glibc's (`options timeout:5 attempts:2`). */
export interface PodResolverOptions {
  /** Per-attempt timeout in ms. Default 5000. */
  readonly timeout?: number;
  /** Attempts before giving up with `EAI_AGAIN`. Default 2. */
  readonly attempts?: number;
}

/** The callback shape of `dns.lookup`. */
type LookupCallback = (err: NodeJS.ErrnoException | null, address: string | LookupAddress[], family?: number) => void;

/**
 * A resolver that behaves like a pod's `getaddrinfo` for the peer clients, aimed at the lab DNS:
 * every call queries the server (no cache, no TTL), each attempt waits `timeout` ms and, after
 * `attempts`, the lookup fails with `EAI_AGAIN` as getaddrinfo does; NXDOMAIN fails with
 * `ENOTFOUND`. Answers keep the server's order. Only A records are asked for (the lab is IPv4).
 */
export class PodResolver {
  /** Lookups made. */
  lookups = 0;
  private readonly timeout: number;
  private readonly attempts: number;
  private readonly active = new Set<Resolver>();

  /**
   * @param server - the lab DNS server, `ip:port`
   * @param options - timeout and attempts
   */
  constructor(
    readonly server: string,
    options: PodResolverOptions = {},
  ) {
    this.timeout = options.timeout ?? 5_000;
    this.attempts = options.attempts ?? 2;
  }

  /** Resolves a host name (IP literals pass through) to its IPv4 addresses. */
  async resolve(hostname: string): Promise<LookupAddress[]> {
    if (isIP(hostname)) return [{ address: hostname, family: isIP(hostname) }];
    this.lookups++;
    let lastCode = 'EAI_AGAIN';
    for (let attempt = 0; attempt < this.attempts; attempt++) {
      try {
        const addresses = await this.query(hostname);
        return addresses.map((address) => ({ address, family: 4 }));
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code ?? '';
        if (code === 'ENOTFOUND' || code === 'ENODATA') throw lookupError(hostname, 'ENOTFOUND');
        lastCode = 'EAI_AGAIN';
      }
    }
    throw lookupError(hostname, lastCode);
  }

  /**
   * A `dns.lookup`-compatible function (for `net.connect`, undici's `connect.lookup`, `http.Agent`).
   * Honours `options.all`.
   */
  readonly lookup = (hostname: string, options: LookupOptions | LookupCallback, callback?: LookupCallback): void => {
    const cb = (typeof options === 'function' ? options : callback)!;
    const all = typeof options === 'object' && options.all === true;
    this.resolve(hostname).then(
      (addresses) => (all ? cb(null, addresses) : cb(null, addresses[0]!.address, addresses[0]!.family)),
      (err: NodeJS.ErrnoException) => cb(err, all ? [] : ''),
    );
  };

  /** Cancels queries in flight (they fail with `EAI_AGAIN`). */
  close(): void {
    for (const r of this.active) r.cancel();
    this.active.clear();
  }

  /** One attempt: one query, cancelled after `timeout` ms. */
  private async query(hostname: string): Promise<string[]> {
    // c-ares' own timeouts are adaptive and jittered; give it a long one and time the attempt ourselves.
    const resolver = new Resolver({ timeout: this.timeout * 4, tries: 1 });
    resolver.setServers([this.server]);
    this.active.add(resolver);
    const timer = setTimeout(() => resolver.cancel(), this.timeout);
    try {
      return await resolver.resolve4(hostname);
    } finally {
      clearTimeout(timer);
      this.active.delete(resolver);
    }
  }
}

function lookupError(hostname: string, code: string): NodeJS.ErrnoException {
  return Object.assign(new Error(`getaddrinfo ${code} ${hostname}`), { code, errno: code === 'ENOTFOUND' ? -3008 : -3001, syscall: 'getaddrinfo', hostname });
}
