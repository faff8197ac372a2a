import { afterAll, afterEach, beforeAll } from 'vitest';
import { type AttemptEvent, ResilientAgent, type ResilienceOptions, type RetryEvent, channelNames } from '../../src/index.js';
import { DnsServer, type Pod, type PodBehaviour, startPod } from '@ridethrough/testbed';
import type { DnsOptions } from '../../src/resolve/dns-options.js';
import { subscribeChannel } from './cluster.js';
import { type FaultServer, type FaultServerOptions, startFaultServer } from './fault-server.js';

/** Options of {@link useScope}. */
export interface ScopeOptions {
  /** Loopback address of the file's DNS server (pick one in the file's own address range). */
  readonly dnsAddress: string;
  /** The port every pod and fault server of the file listens on. */
  readonly port: number;
  /** DNS options every agent of the file gets (on top of "this DNS server only, no search list"). */
  readonly dns?: DnsOptions;
}

/**
 * The shared fixture of a test file: one real {@link DnsServer} for the whole file, and a list of
 * cleanups that runs after every test (last registered first), so each test's pods, fault servers,
 * agents and channel subscriptions are gone before the next test starts, also when a test fails.
 *
 * Create it with {@link useScope}. Its members are bound, so they can be destructured:
 * `const { dns, agent: newAgent, pod, fault, watchRetries } = useScope({ ... })`.
 */
export class TestScope {
  /** The file's DNS server; constructed at once, listening from `beforeAll` on. */
  readonly dns: DnsServer;
  private readonly port: number;
  private readonly baseDns: DnsOptions;
  private readonly cleanups: (() => unknown)[] = [];

  /** Use {@link useScope}, which also registers the hooks. */
  constructor(options: ScopeOptions) {
    this.dns = new DnsServer({ address: options.dnsAddress, port: 0 });
    this.port = options.port;
    this.baseDns = options.dns ?? {};
  }

  /** Starts the DNS server. */
  readonly start = async (): Promise<void> => {
    await this.dns.start();
  };

  /** Stops the DNS server. */
  readonly stop = async (): Promise<void> => {
    await this.dns.stop();
  };

  /** Registers a cleanup step run (last registered first) after the current test. */
  readonly defer = (fn: () => unknown): void => {
    this.cleanups.push(fn);
  };

  /** Runs the registered cleanups, last first; runs them all, then rethrows the first failure. */
  readonly cleanup = async (): Promise<void> => {
    const failures: unknown[] = [];
    for (const fn of this.cleanups.splice(0).reverse()) {
      try {
        await fn();
      } catch (err) {
        failures.push(err);
      }
    }
    if (failures.length > 0) throw failures[0];
  };

  /**
   * DNS options that resolve through this file's DNS server only (never the machine's resolver), with
   * the file's defaults and then `extra` on top.
   */
  readonly dnsOptions = (extra: DnsOptions = {}): DnsOptions => ({ servers: [this.dns.server], search: [], ...this.baseDns, ...extra });

  /** A {@link ResilientAgent} resolving through {@link dnsOptions} (merged with `options.dns`); closed after the test. */
  readonly agent = (options: ResilienceOptions = {}): ResilientAgent => {
    const agent = new ResilientAgent({ ...options, dns: this.dnsOptions(options.dns) });
    // As with undici's Agent, closing one the test destroyed is an error: only close what is still open.
    this.defer(() => (agent.destroyed || agent.closed ? undefined : agent.close()));
    return agent;
  };

  /** Starts a pod on `address` and the file's port; killed after the test. */
  readonly pod = async (name: string, address: string, behaviour?: PodBehaviour): Promise<Pod> => {
    const p = await startPod(name, address, this.port, behaviour);
    this.defer(() => p.kill());
    return p;
  };

  /** Starts a {@link FaultServer} on `address` and the file's port; stopped after the test. */
  readonly fault = async (address: string, options: FaultServerOptions = {}): Promise<FaultServer> => {
    const f = await startFaultServer(address, this.port, options);
    this.defer(() => f.stop());
    return f;
  };

  /**
   * Collects the messages of the diagnostics channel `name` until the test ends. `onMessage` runs
   * synchronously inside `publish`, after the message was added to the returned array.
   */
  readonly watch = <T>(name: string, onMessage?: (message: T) => void): T[] => {
    const messages: T[] = [];
    this.defer(
      subscribeChannel<T>(name, (message) => {
        messages.push(message);
        onMessage?.(message);
      }),
    );
    return messages;
  };

  /** {@link watch} for `ridethrough:retry`. */
  readonly watchRetries = (onEvent?: (event: RetryEvent) => void): RetryEvent[] => this.watch<RetryEvent>(channelNames.retry, onEvent);

  /** DNS lists only `refused` until the first attempt goes there, then `refused` and `good` (TTL 0): the request rides through. */
  readonly moveOnFirstAttempt = (host: string, refused: string, good: string): void => {
    this.dns.setRecords(host, { a: [refused], ttl: 0 });
    this.watch<AttemptEvent>(channelNames.attempt, (e) => {
      if (e.address === refused) this.dns.setRecords(host, { a: [refused, good], ttl: 0 });
    });
  };
}

/**
 * Creates the {@link TestScope} of a test file and registers its hooks: the DNS server starts in
 * `beforeAll` and stops in `afterAll`; the cleanups run in `afterEach`. Call it once, at the top level.
 */
export function useScope(options: ScopeOptions): TestScope {
  const scope = new TestScope(options);
  beforeAll(scope.start);
  afterEach(scope.cleanup);
  afterAll(scope.stop);
  return scope;
}

/** The rejection of `p`; throws (failing the test) if `p` resolves. */
export async function rejection(p: Promise<unknown>): Promise<unknown> {
  try {
    await p;
  } catch (err) {
    return err;
  }
  throw new Error('expected the promise to reject');
}
