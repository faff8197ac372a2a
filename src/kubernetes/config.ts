import { readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { type OptionGroup, custom, group, millis, num, resolveGroup } from '../utils/option-table.js';
import { checkObject, describe } from '../utils/validate.js';

/** Where a pod's service account credentials are mounted. */
export const serviceAccountDir = '/var/run/secrets/kubernetes.io/serviceaccount';

/** Options of {@link kubernetesEndpoints}. Every one has an in-cluster default. */
export interface KubernetesEndpointsOptions {
  /**
   * The API server's URL. Default: `https://$KUBERNETES_SERVICE_HOST:$KUBERNETES_SERVICE_PORT`, as every
   * pod gets. Without it (out of cluster, no option) the source serves no host: DNS serves them all.
   */
  readonly apiServer?: string;
  /** A bearer token. Default: the service account token file, re-read at every (re)connect since the kubelet rotates it. */
  readonly token?: string;
  /** A file holding the bearer token, re-read at every (re)connect. Default: `<serviceaccount>/token`. */
  readonly tokenFile?: string;
  /** The CA certificate(s) of the API server, PEM. Default: the contents of {@link caFile}. */
  readonly ca?: string | Buffer;
  /** A file with the API server's CA, PEM. Default: `<serviceaccount>/ca.crt`. */
  readonly caFile?: string;
  /** The namespace of one-label names (`svc`). Default: the pod's own (`<serviceaccount>/namespace`); without it, one-label names go to DNS. */
  readonly namespace?: string;
  /** The cluster's DNS domain, for `svc.ns.svc.<clusterDomain>` names. Default `cluster.local`. */
  readonly clusterDomain?: string;
  /**
   * The EndpointSlice port a request goes to: one port name for every Service (`'http'`), or a name per
   * Service (keys `svc.ns` or `svc`). Without one: the slice port whose number is the request's port,
   * else the slice's only port; a Service with several ports and no match is served by DNS.
   */
  readonly portName?: string | Readonly<Record<string, string>>;
  /**
   * How long the last known endpoints are kept after the watch breaks while it reconnects, in ms; then
   * DNS takes over until the watch is back. Default 2000. Range 0–60000.
   */
  readonly staleAfter?: number;
  /**
   * Reconnect backoff after a failed list or watch (p-retry: doubling, each delay × random 1–2, capped), in ms.
   * Default `{ initialDelay: 200, maxDelay: 30000 }`. Ranges: `initialDelay` 1–60000, `maxDelay` 1–600000 and at least `initialDelay`.
   */
  readonly reconnect?: { readonly initialDelay?: number; readonly maxDelay?: number };
  /** Longest a list call may take (to headers and to the end of its body), in ms. Default 5000. Range 100–600000. */
  readonly listTimeout?: number;
  /** How long the server keeps one watch call open before the client reopens it, in seconds (±10 % jitter). Default 300. Range 1–3600. */
  readonly watchTimeoutSeconds?: number;
}

/** The options, checked, with the in-cluster defaults read. @internal */
export interface KubernetesConfig {
  /** undefined: no API server known, the source serves nothing. */
  readonly apiServer: URL | undefined;
  readonly token: () => Promise<string | undefined>;
  /** Identifies the credentials (the token itself or its file), for sharing watches. */
  readonly credentialKey: string;
  readonly ca: string | Buffer | undefined;
  readonly namespace: string | undefined;
  readonly clusterDomain: string;
  readonly portName: string | Readonly<Record<string, string>> | undefined;
  readonly staleAfter: number;
  readonly reconnectInitial: number;
  readonly reconnectMax: number;
  readonly listTimeout: number;
  readonly watchTimeoutSeconds: number;
}

type ReconnectOptions = NonNullable<KubernetesEndpointsOptions['reconnect']>;

/** The `reconnect` option's rules. @internal */
const reconnectOptions: OptionGroup<ReconnectOptions> = {
  table: {
    initialDelay: millis(1, 60_000, 200, 'First reconnect delay after a failed list or watch; doubles after each failure.'),
    maxDelay: millis(1, 600_000, 30_000, 'Largest reconnect delay.', { rangeText: '1–600000, ≥ initialDelay' }),
  },
  relations: (r, path) => {
    if (r.maxDelay < r.initialDelay) {
      throw new RangeError(`ridethrough: option "${path('maxDelay')}" must be at least ${path('initialDelay')} (${r.initialDelay}), got ${r.maxDelay}`);
    }
  },
};

/** The options with the table's defaults filled in; the ones read from the environment and files stay optional. */
type Defaulted = 'tokenFile' | 'caFile' | 'clusterDomain' | 'staleAfter' | 'listTimeout' | 'watchTimeoutSeconds';
type Resolved = Omit<KubernetesEndpointsOptions, Defaulted | 'reconnect'> &
  Required<Pick<KubernetesEndpointsOptions, Defaulted>> & { readonly reconnect: Required<ReconnectOptions> };

const nonEmpty = { rangeText: 'non-empty string' };

/** The rules behind {@link KubernetesEndpointsOptions}: checks, defaults and the docs table (docs/kubernetes.md). @internal */
export const kubernetesOptions: OptionGroup<KubernetesEndpointsOptions> = {
  table: {
    apiServer: custom(checkApiServer, undefined, 'The API server. Out of cluster without it, the source serves nothing (DNS only).', {
      defaultText: '`https://$KUBERNETES_SERVICE_HOST:$KUBERNETES_SERVICE_PORT`',
      rangeText: 'http(s) URL',
    }),
    token: custom(checkString, undefined, 'A bearer token. Without it the token file is read.', { defaultText: 'the token file', ...nonEmpty }),
    tokenFile: custom(
      checkString,
      `${serviceAccountDir}/token`,
      'The file the bearer token is read from, again at every (re)connect: the kubelet rotates projected tokens.',
      { defaultText: '`<serviceaccount>/token`', ...nonEmpty },
    ),
    ca: custom(checkCa, undefined, "The API server's CA (PEM). Without it `caFile` is read.", {
      defaultText: 'the CA file',
      rangeText: 'PEM string or Buffer',
    }),
    caFile: custom(checkString, `${serviceAccountDir}/ca.crt`, "The file the API server's CA (PEM) is read from, once.", {
      defaultText: '`<serviceaccount>/ca.crt`',
      ...nonEmpty,
    }),
    namespace: custom(checkString, undefined, 'Namespace of one-label names (`svc`); without one (nor the file), one-label names go to DNS.', {
      defaultText: '`<serviceaccount>/namespace`',
      ...nonEmpty,
    }),
    clusterDomain: {
      ...custom(checkString, 'cluster.local', 'For `svc.ns.svc.<clusterDomain>` names.', { defaultText: '`cluster.local`', ...nonEmpty }),
      normalize: (v) => (v as string).toLowerCase().replace(/^\.|\.$/g, ''),
    },
    portName: custom(
      checkPortName,
      undefined,
      "Slice port name for every Service (`'http'`), or per Service (`{ inventory: 'http', 'cart.shop': 'grpc' }`, keys `svc.ns` or `svc`). Without one: the slice port whose number is the request's port, else the slice's only port. See port mapping.",
      { defaultText: 'none', rangeText: 'string or object of strings' },
    ),
    staleAfter: millis(
      0,
      60_000,
      2_000,
      'How long the last known endpoints are kept after the watch breaks, while it reconnects; then DNS takes over until the watch is back.',
    ),
    reconnect: group(
      reconnectOptions,
      'Reconnect backoff after a failed list or watch (p-retry): doubling, each delay multiplied by a random 1–2 and capped; the first reconnect after a watch that was open goes at once.',
      { on: true, defaultText: '200 / 30000' },
    ),
    listTimeout: millis(100, 600_000, 5_000, "Longest a list (to the end of its body) and the wait for a watch's headers may take."),
    watchTimeoutSeconds: num(
      1,
      3_600,
      300,
      'How long one watch call stays open, in seconds (`timeoutSeconds`, ±10 %); then it is reopened from the last `resourceVersion`.',
      { integer: true, unit: 'seconds' },
    ),
  },
};

/**
 * Validates the options (TypeError/RangeError naming the option and what is allowed) and reads the
 * in-cluster defaults (environment, service account files) once; only the token is re-read later.
 * @internal
 */
export function resolveKubernetesConfig(options: KubernetesEndpointsOptions = {}, env: NodeJS.ProcessEnv = process.env): KubernetesConfig {
  checkObject('kubernetesEndpoints options', options);
  const o = resolveGroup<KubernetesEndpointsOptions, Resolved>(kubernetesOptions, options);
  let apiServer: URL | undefined;
  const given = o.apiServer ?? inClusterServer(env);
  if (given !== undefined) {
    apiServer = parseServer(given);
    if (apiServer === undefined) throw new TypeError(`ridethrough: option "apiServer" must be an http(s) URL, got ${JSON.stringify(given)}`);
  }
  const tokenFile = o.tokenFile;
  const fixed = o.token;
  return {
    apiServer,
    token:
      fixed !== undefined
        ? () => Promise.resolve(fixed)
        : () =>
            readFile(tokenFile, 'utf8').then(
              (t) => t.trim(),
              () => undefined,
            ),
    credentialKey: fixed !== undefined ? `token:${fixed}` : `file:${tokenFile}`,
    ca: o.ca ?? readOptional(o.caFile),
    namespace: o.namespace ?? readOptional(`${serviceAccountDir}/namespace`)?.trim(),
    clusterDomain: o.clusterDomain,
    portName: o.portName,
    staleAfter: o.staleAfter,
    reconnectInitial: o.reconnect.initialDelay,
    reconnectMax: o.reconnect.maxDelay,
    listTimeout: o.listTimeout,
    watchTimeoutSeconds: o.watchTimeoutSeconds,
  };
}

/** The URL, or undefined unless it is an http(s) URL. */
function parseServer(text: string): URL | undefined {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    return undefined;
  }
  return url.protocol === 'https:' || url.protocol === 'http:' ? url : undefined;
}

/** `https://$KUBERNETES_SERVICE_HOST:$KUBERNETES_SERVICE_PORT`, or undefined out of cluster. */
function inClusterServer(env: NodeJS.ProcessEnv): string | undefined {
  const host = env.KUBERNETES_SERVICE_HOST;
  if (!host) return undefined;
  const port = env.KUBERNETES_SERVICE_PORT || '443';
  return `https://${host.includes(':') ? `[${host}]` : host}:${port}`;
}

function readOptional(path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return undefined;
  }
}

function checkString(path: string, value: unknown): void {
  if (value !== undefined && (typeof value !== 'string' || value === '')) {
    throw new TypeError(`ridethrough: option "${path}" must be a non-empty string, got ${value === '' ? 'an empty string' : describe(value)}`);
  }
}

function checkApiServer(path: string, value: unknown): void {
  checkString(path, value);
  if (value !== undefined && parseServer(value as string) === undefined) {
    throw new TypeError(`ridethrough: option "${path}" must be an http(s) URL, got ${JSON.stringify(value)}`);
  }
}

function checkCa(path: string, value: unknown): void {
  if (value !== undefined && typeof value !== 'string' && !Buffer.isBuffer(value)) {
    throw new TypeError(`ridethrough: option "${path}" must be a PEM string or a Buffer, got ${describe(value)}`);
  }
}

function checkPortName(path: string, value: unknown): void {
  if (value === undefined || typeof value === 'string') return;
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw new TypeError(`ridethrough: option "${path}" must be an object of port names by Service, or one port name string, got ${describe(value)}`);
  }
  for (const [k, v] of Object.entries(value)) checkString(`${path}.${k}`, v);
}
