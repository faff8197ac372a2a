/**
 * A Kubernetes API server double for the EndpointSlice resolver's tests, written from the API
 * reference (discovery.k8s.io/v1 EndpointSlice; "API concepts": list, watch, resourceVersion,
 * bookmarks, 410 Gone). It implements what a list-then-watch client relies on, over TLS with bearer
 * tokens, and fault modes to break it.
 * @module
 */
import http from 'node:http';
import https from 'node:https';
import { LoopbackServer } from './loopback-server.js';

/** An endpoint of a slice, as tests write it. */
export interface KubeEndpointSpec {
  readonly address: string;
  /** Default true. */
  readonly ready?: boolean;
  /** Default: `ready`. */
  readonly serving?: boolean;
  /** Default false. */
  readonly terminating?: boolean;
  /** The pod's name (`targetRef`), for reading the slice. */
  readonly pod?: string;
}

/** A port of a slice. */
export interface KubePortSpec {
  readonly name?: string;
  readonly port: number;
  readonly protocol?: 'TCP' | 'UDP' | 'SCTP';
}

/** A discovery.k8s.io/v1 EndpointSlice, as the double stores and serves it. */
export interface KubeEndpointSlice {
  readonly apiVersion: 'discovery.k8s.io/v1';
  readonly kind: 'EndpointSlice';
  readonly metadata: {
    readonly name: string;
    readonly namespace: string;
    readonly resourceVersion: string;
    readonly labels: Readonly<Record<string, string>>;
    readonly annotations: Readonly<Record<string, string>>;
  };
  readonly addressType: 'IPv4' | 'IPv6' | 'FQDN';
  readonly endpoints: readonly {
    readonly addresses: readonly string[];
    readonly conditions: { readonly ready: boolean; readonly serving: boolean; readonly terminating: boolean };
    readonly targetRef?: { readonly kind: 'Pod'; readonly name: string; readonly namespace: string };
  }[];
  readonly ports: readonly { readonly name: string; readonly port: number; readonly protocol: string }[];
}

/** What a test passes to {@link KubeApiServer.applySlice}. */
export interface KubeSliceSpec {
  readonly namespace: string;
  readonly service: string;
  /** The slice's name. Default `<service>-<addressType lower case>`. */
  readonly name?: string;
  /** Default `IPv4`. */
  readonly addressType?: 'IPv4' | 'IPv6' | 'FQDN';
  readonly endpoints: readonly KubeEndpointSpec[];
  readonly ports: readonly KubePortSpec[];
  /** The `endpoints.kubernetes.io/last-change-trigger-time` annotation (epoch ms). Default: now. */
  readonly triggerTime?: number;
}

/**
 * Fault modes: `none`; `unavailable` (every call 503); `unauthorized` (401, as a rejected token);
 * `forbidden` (403, as missing RBAC); `hang` (calls get no response at all).
 */
export type KubeApiFault = 'none' | 'unavailable' | 'unauthorized' | 'forbidden' | 'hang';

/** One request the double received. */
export interface KubeApiRequest {
  readonly method: string;
  readonly path: string;
  readonly watch: boolean;
  readonly resourceVersion: string | undefined;
  readonly labelSelector: string | undefined;
  readonly token: string | undefined;
  /** The HTTP status answered. */
  status: number;
}

/** Options of {@link KubeApiServer}. */
export interface KubeApiServerOptions {
  /** Loopback address. */
  readonly address: string;
  /** Port, 0 for any. Default 0. */
  readonly port?: number;
  /** The server's key and certificate (a self-signed one is its own CA); without, plain HTTP. */
  readonly tls?: { readonly key: Buffer | string; readonly cert: Buffer | string };
  /** Bearer tokens accepted. Default `['test-token']`. */
  readonly tokens?: readonly string[];
  /** How a watch from a compacted version is refused: an ERROR event in a 200 stream (what the API server does) or HTTP 410. Default `event`. */
  readonly goneAs?: 'event' | 'http';
}

interface HistoryEntry {
  readonly rv: number;
  readonly type: 'ADDED' | 'MODIFIED' | 'DELETED';
  readonly slice: KubeEndpointSlice;
}

interface Watcher {
  readonly namespace: string;
  readonly service: string | undefined;
  readonly res: http.ServerResponse;
  readonly bookmarks: boolean;
}

const slicesPath = /^\/apis\/discovery\.k8s\.io\/v1\/namespaces\/([^/]+)\/endpointslices$/;

/**
 * The API server double. Keeps EndpointSlices per namespace with a global resourceVersion counter and
 * their change history; serves `GET /apis/discovery.k8s.io/v1/namespaces/<ns>/endpointslices` with a
 * `labelSelector` of `kubernetes.io/service-name=<svc>`, as a list (`EndpointSliceList` with
 * `metadata.resourceVersion`) or, with `watch=1`, as a chunked stream of newline-delimited
 * `{"type","object"}` events after `resourceVersion` (ADDED, MODIFIED, DELETED, BOOKMARK with
 * `allowWatchBookmarks`), ended after `timeoutSeconds`. A version older than the last
 * {@link compact} gets `410 Gone` (`Expired`). Requests need `Authorization: Bearer <token>`.
 */
export class KubeApiServer extends LoopbackServer<http.Server, KubeApiRequest> {
  private rv = 100;
  private compactedBelow = 0;
  private readonly slices = new Map<string, KubeEndpointSlice>();
  private readonly history: HistoryEntry[] = [];
  private readonly watchers = new Set<Watcher>();
  private readonly tokens: Set<string>;
  private readonly goneAs: 'event' | 'http';
  private readonly tls: boolean;
  /** The fault mode now. */
  fault: KubeApiFault = 'none';
  /** Delay before a list is answered, ms (a slow API server). */
  listDelay = 0;
  /** Lists answered so far. */
  lists = 0;
  /** Watches opened so far. */
  watches = 0;

  /** @param options - address, TLS, tokens */
  constructor(options: KubeApiServerOptions) {
    const server = options.tls ? https.createServer({ key: options.tls.key, cert: options.tls.cert }) : http.createServer();
    super(server, options.address, options.port ?? 0);
    this.tls = options.tls !== undefined;
    this.tokens = new Set(options.tokens ?? ['test-token']);
    this.goneAs = options.goneAs ?? 'event';
    server.on('request', (req: http.IncomingMessage, res: http.ServerResponse) => this.handle(req, res));
  }

  /** The server's URL (`https://127.0.13x.y:port`). */
  get url(): string {
    return `${this.tls ? 'https' : 'http'}://${this.address.includes(':') ? `[${this.address}]` : this.address}:${this.boundPort}`;
  }

  /** The current resourceVersion. */
  get resourceVersion(): string {
    return String(this.rv);
  }

  /** Watches streaming now. */
  get activeWatches(): number {
    return this.watchers.size;
  }

  /** Replaces the accepted tokens (a rotation: the old token is rejected from now on). */
  setTokens(tokens: readonly string[]): void {
    this.tokens.clear();
    for (const t of tokens) this.tokens.add(t);
  }

  /** Creates or replaces a slice (an ADDED or MODIFIED event). Returns it. */
  applySlice(spec: KubeSliceSpec): KubeEndpointSlice {
    const addressType = spec.addressType ?? 'IPv4';
    const name = spec.name ?? `${spec.service}-${addressType.toLowerCase()}`;
    const key = `${spec.namespace}/${name}`;
    const type = this.slices.has(key) ? 'MODIFIED' : 'ADDED';
    const slice: KubeEndpointSlice = {
      apiVersion: 'discovery.k8s.io/v1',
      kind: 'EndpointSlice',
      metadata: {
        name,
        namespace: spec.namespace,
        resourceVersion: String(++this.rv),
        labels: { 'kubernetes.io/service-name': spec.service, 'endpointslice.kubernetes.io/managed-by': 'endpointslice-controller.k8s.io' },
        annotations: { 'endpoints.kubernetes.io/last-change-trigger-time': new Date(spec.triggerTime ?? Date.now()).toISOString() },
      },
      addressType,
      endpoints: spec.endpoints.map((e) => {
        const ready = e.ready ?? true;
        return {
          addresses: [e.address],
          conditions: { ready, serving: e.serving ?? ready, terminating: e.terminating ?? false },
          ...(e.pod === undefined ? {} : { targetRef: { kind: 'Pod' as const, name: e.pod, namespace: spec.namespace } }),
        };
      }),
      ports: spec.ports.map((p) => ({ name: p.name ?? '', port: p.port, protocol: p.protocol ?? 'TCP' })),
    };
    this.slices.set(key, slice);
    this.record(type, slice);
    return slice;
  }

  /** Deletes a slice (a DELETED event). Returns whether it existed. */
  deleteSlice(namespace: string, name: string): boolean {
    const key = `${namespace}/${name}`;
    const slice = this.slices.get(key);
    if (slice === undefined) return false;
    this.slices.delete(key);
    this.record('DELETED', { ...slice, metadata: { ...slice.metadata, resourceVersion: String(++this.rv) } });
    return true;
  }

  /** Forgets the history: a watch from any version before now gets 410 Gone (etcd compaction). */
  compact(): void {
    this.compactedBelow = this.rv;
    this.history.length = 0;
  }

  /** Sends a BOOKMARK with the current version to every watch that asked for bookmarks. */
  bookmark(): void {
    for (const w of this.watchers) {
      if (w.bookmarks)
        this.send(w.res, {
          type: 'BOOKMARK',
          object: { kind: 'EndpointSlice', apiVersion: 'discovery.k8s.io/v1', metadata: { resourceVersion: String(this.rv) } },
        });
    }
  }

  /** Breaks every watch mid-stream: the connection is destroyed without ending the chunked body. */
  breakWatches(): void {
    for (const w of this.watchers) w.res.socket?.destroy();
    this.watchers.clear();
  }

  /** Ends every watch cleanly (what the server does at `timeoutSeconds`). */
  endWatches(): void {
    for (const w of this.watchers) w.res.end();
    this.watchers.clear();
  }

  override async stop(): Promise<void> {
    this.breakWatches();
    await super.stop();
  }

  private record(type: HistoryEntry['type'], slice: KubeEndpointSlice): void {
    this.history.push({ rv: this.rv, type, slice });
    // Bounded, like etcd's: older versions are compacted away.
    if (this.history.length > 1000) this.compactedBelow = this.history.splice(0, 500).at(-1)!.rv + 1;
    const service = slice.metadata.labels['kubernetes.io/service-name'];
    for (const w of this.watchers) {
      if (w.namespace === slice.metadata.namespace && (w.service === undefined || w.service === service)) this.send(w.res, { type, object: slice });
    }
  }

  private send(res: http.ServerResponse, event: unknown): void {
    if (!res.writableEnded && !res.destroyed) res.write(`${JSON.stringify(event)}\n`);
  }

  private status(res: http.ServerResponse, entry: KubeApiRequest, code: number, reason: string, message: string): void {
    entry.status = code;
    res.writeHead(code, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message, reason, code }));
  }

  private handle(req: http.IncomingMessage, res: http.ServerResponse): void {
    const url = new URL(req.url ?? '/', 'http://double');
    const auth = req.headers.authorization;
    const token = auth?.startsWith('Bearer ') ? auth.slice(7) : undefined;
    const watch = url.searchParams.get('watch') === '1' || url.searchParams.get('watch') === 'true';
    const entry: KubeApiRequest = {
      method: req.method ?? 'GET',
      path: url.pathname,
      watch,
      resourceVersion: url.searchParams.get('resourceVersion') ?? undefined,
      labelSelector: url.searchParams.get('labelSelector') ?? undefined,
      token,
      status: 0,
    };
    this.requests.push(entry);
    if (this.fault === 'hang') return;
    if (this.fault === 'unavailable') {
      this.status(res, entry, 503, 'ServiceUnavailable', 'the server is currently unable to handle the request');
      return;
    }
    if (token === undefined || !this.tokens.has(token) || this.fault === 'unauthorized') {
      this.status(res, entry, 401, 'Unauthorized', 'Unauthorized');
      return;
    }
    const match = slicesPath.exec(url.pathname);
    if (req.method !== 'GET' || match === null) {
      this.status(res, entry, 404, 'NotFound', 'the server could not find the requested resource');
      return;
    }
    const namespace = decodeURIComponent(match[1]!);
    if (this.fault === 'forbidden') {
      this.status(
        res,
        entry,
        403,
        'Forbidden',
        `endpointslices.discovery.k8s.io is forbidden: User "system:serviceaccount:${namespace}:default" cannot list resource "endpointslices" in API group "discovery.k8s.io" in the namespace "${namespace}"`,
      );
      return;
    }
    const selector = url.searchParams.get('labelSelector');
    let service: string | undefined;
    if (selector !== null) {
      const m = /^kubernetes\.io\/service-name=([^,]+)$/.exec(selector);
      if (m === null) {
        this.status(res, entry, 400, 'BadRequest', `unsupported labelSelector ${selector}`);
        return;
      }
      service = m[1];
    }
    const matches = (s: KubeEndpointSlice): boolean =>
      s.metadata.namespace === namespace && (service === undefined || s.metadata.labels['kubernetes.io/service-name'] === service);
    if (!watch) {
      const answer = (): void => {
        this.lists++;
        entry.status = 200;
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(
          JSON.stringify({
            kind: 'EndpointSliceList',
            apiVersion: 'discovery.k8s.io/v1',
            metadata: { resourceVersion: String(this.rv) },
            items: [...this.slices.values()].filter(matches),
          }),
        );
      };
      if (this.listDelay > 0) {
        const timer = setTimeout(answer, this.listDelay);
        res.on('close', () => clearTimeout(timer));
      } else {
        answer();
      }
      return;
    }
    const from = Number(url.searchParams.get('resourceVersion') ?? '0');
    if (from !== 0 && from < this.compactedBelow) {
      const message = `too old resource version: ${from} (${this.compactedBelow})`;
      if (this.goneAs === 'http') {
        this.status(res, entry, 410, 'Expired', message);
        return;
      }
      entry.status = 200;
      res.writeHead(200, { 'content-type': 'application/json', 'transfer-encoding': 'chunked' });
      this.send(res, { type: 'ERROR', object: { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message, reason: 'Expired', code: 410 } });
      res.end();
      return;
    }
    this.watches++;
    entry.status = 200;
    res.writeHead(200, { 'content-type': 'application/json', 'transfer-encoding': 'chunked' });
    res.flushHeaders();
    const watcher: Watcher = { namespace, service, res, bookmarks: url.searchParams.get('allowWatchBookmarks') === 'true' };
    for (const h of this.history) if (h.rv > from && matches(h.slice)) this.send(res, { type: h.type, object: h.slice });
    this.watchers.add(watcher);
    const seconds = Number(url.searchParams.get('timeoutSeconds') ?? '1800');
    const timer = setTimeout(() => {
      this.watchers.delete(watcher);
      res.end();
    }, seconds * 1000);
    res.on('close', () => {
      clearTimeout(timer);
      this.watchers.delete(watcher);
    });
  }
}
