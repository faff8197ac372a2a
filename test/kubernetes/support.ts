/**
 * A loopback "cluster" for the EndpointSlice resolver's tests: the testbed DNS server (UDP), HTTP pods,
 * and the Kubernetes API server double over TLS with its own CA and a bearer token in a file. Every
 * part is torn down by {@link KubeCluster.close}, also when a test fails.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { KubeApiServer, type KubeApiServerOptions } from '@ridethrough/testbed';
import { request } from 'undici';
import { afterEach } from 'vitest';
import type { AgentOriginStats, ResilientAgent } from '../../src/index.js';
import { kubernetesEndpoints, type KubernetesEndpointsOptions } from '../../src/kubernetes/index.js';
import type { DiscoverySource } from '../../src/resolve/discovery.js';
import { makeCert, type TestCert } from '../support/certs.js';
import { Cluster, sleep } from '../support/cluster.js';

export { sleep };

/** The pods' port: one of this suite's fixed ports, so DNS (which carries no port) and the slices agree. */
export const podPort = 18130;

const certs = new Map<string, TestCert>();

/** The cluster: DNS, pods, the API double, and a token file. */
export class KubeCluster {
  private readonly dir = mkdtempSync(join(tmpdir(), 'rt-kube-'));
  /** The file the token is read from (rewrite it to rotate). */
  readonly tokenFile = join(this.dir, 'token');

  private constructor(
    readonly cluster: Cluster,
    readonly api: KubeApiServer,
    readonly cert: TestCert,
  ) {
    writeFileSync(this.tokenFile, 'test-token\n');
  }

  /**
   * @param base - this file's address prefix, e.g. `127.0.131` (DNS on .53, the API on .10)
   */
  static async start(base: string, apiOptions: Partial<KubeApiServerOptions> = {}): Promise<KubeCluster> {
    const apiAddress = `${base}.10`;
    let cert = certs.get(apiAddress);
    if (cert === undefined) certs.set(apiAddress, (cert = makeCert(apiAddress)));
    const cluster = await Cluster.start(`${base}.53`);
    const api = new KubeApiServer({ address: apiAddress, tls: cert, ...apiOptions });
    try {
      await api.start();
    } catch (err) {
      await cluster.close();
      throw err;
    }
    return new KubeCluster(cluster, api, cert);
  }

  /** A source pointed at the double, with fast timings for tests. */
  source(extra: KubernetesEndpointsOptions = {}): DiscoverySource {
    return kubernetesEndpoints({
      apiServer: this.api.url,
      tokenFile: this.tokenFile,
      ca: this.cert.cert,
      namespace: 'shop',
      staleAfter: 300,
      reconnect: { initialDelay: 50, maxDelay: 500 },
      listTimeout: 1_000,
      ...extra,
    });
  }

  /** Rewrites the token file. */
  writeToken(token: string): void {
    writeFileSync(this.tokenFile, `${token}\n`);
  }

  /** Stops everything. Never throws. */
  async close(): Promise<void> {
    await this.api.stop().catch(() => {});
    await this.cluster.close();
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/** Sends a GET and returns its status and body (the pod's name). */
export async function get(agent: ResilientAgent, url: string, deadline?: number): Promise<{ status: number; body: string; ms: number }> {
  const started = performance.now();
  const res = await request(url, { dispatcher: agent, ...(deadline === undefined ? {} : { ridethrough: { deadline } }) } as Parameters<typeof request>[1]);
  const body = await res.body.text();
  return { status: res.statusCode, body, ms: performance.now() - started };
}

/** Polls `check` every 10 ms until it is true, or throws after `timeoutMs`. */
export async function waitFor(what: string, check: () => boolean, timeoutMs = 5_000): Promise<void> {
  const until = performance.now() + timeoutMs;
  while (!check()) {
    if (performance.now() > until) throw new Error(`timed out waiting for ${what}`);
    await sleep(10);
  }
}

/** The stats of one origin of an agent. */
export function originStats(agent: ResilientAgent, origin: string): AgentOriginStats | undefined {
  return agent.stats[origin];
}

/** A test file's clusters and agents, torn down after each test: `start` a cluster, `keep` the agents made. */
export function useKubeScope(): {
  start: (base: string, apiOptions?: Partial<KubeApiServerOptions>) => Promise<KubeCluster>;
  keep: (...agents: ResilientAgent[]) => void;
} {
  let cluster: KubeCluster | undefined;
  const agents: ResilientAgent[] = [];
  afterEach(async () => {
    for (const a of agents.splice(0)) await a.destroy().catch(() => {});
    await cluster?.close();
    cluster = undefined;
  });
  return {
    start: async (base, apiOptions) => (cluster = await KubeCluster.start(base, apiOptions)),
    keep: (...made) => {
      agents.push(...made);
    },
  };
}
