import { readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { checkKnownKeys, checkNumber, checkObject } from '../utils/validate.js';

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
  /** Reconnect backoff after a failed list or watch (p-retry: doubling, each delay × random 1–2, capped). Default `{ initialDelay: 200, maxDelay: 30000 }`. */
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

const knownKeys = [
  'apiServer',
  'token',
  'tokenFile',
  'ca',
  'caFile',
  'namespace',
  'clusterDomain',
  'portName',
  'staleAfter',
  'reconnect',
  'listTimeout',
  'watchTimeoutSeconds',
];

/**
 * Validates the options (TypeError/RangeError naming the option) and reads the in-cluster defaults
 * (environment, service account files) once; only the token is re-read later.
 * @internal
 */
export function resolveKubernetesConfig(options: KubernetesEndpointsOptions = {}, env: NodeJS.ProcessEnv = process.env): KubernetesConfig {
  checkObject('kubernetesEndpoints options', options);
  checkKnownKeys('', options, knownKeys);
  for (const key of ['apiServer', 'token', 'tokenFile', 'caFile', 'namespace', 'clusterDomain'] as const) checkString(key, options[key]);
  if (options.ca !== undefined && typeof options.ca !== 'string' && !Buffer.isBuffer(options.ca)) {
    throw new TypeError(`ridethrough: option "ca" must be a PEM string or a Buffer, got ${typeof options.ca}`);
  }
  const portName = options.portName;
  if (portName !== undefined && typeof portName !== 'string') {
    checkObject('portName', portName);
    for (const [k, v] of Object.entries(portName)) checkString(`portName.${k}`, v);
  }
  checkNumber('staleAfter', options.staleAfter, 0, 60_000, { unit: 'milliseconds' });
  checkObject('reconnect', options.reconnect);
  checkKnownKeys('reconnect', options.reconnect, ['initialDelay', 'maxDelay']);
  checkNumber('reconnect.initialDelay', options.reconnect?.initialDelay, 1, 60_000, { unit: 'milliseconds' });
  checkNumber('reconnect.maxDelay', options.reconnect?.maxDelay, 1, 600_000, { unit: 'milliseconds' });
  const reconnectInitial = options.reconnect?.initialDelay ?? 200;
  const reconnectMax = options.reconnect?.maxDelay ?? 30_000;
  if (reconnectMax < reconnectInitial)
    throw new RangeError(`ridethrough: option "reconnect.maxDelay" must be at least reconnect.initialDelay (${reconnectInitial}), got ${reconnectMax}`);
  checkNumber('listTimeout', options.listTimeout, 100, 600_000, { unit: 'milliseconds' });
  checkNumber('watchTimeoutSeconds', options.watchTimeoutSeconds, 1, 3_600, { integer: true, unit: 'seconds' });

  let apiServer: URL | undefined;
  const given = options.apiServer ?? inClusterServer(env);
  if (given !== undefined) {
    try {
      apiServer = new URL(given);
    } catch {
      throw new TypeError(`ridethrough: option "apiServer" must be an http(s) URL, got ${JSON.stringify(given)}`);
    }
    if (apiServer.protocol !== 'https:' && apiServer.protocol !== 'http:')
      throw new TypeError(`ridethrough: option "apiServer" must be an http(s) URL, got ${JSON.stringify(given)}`);
  }
  const tokenFile = options.tokenFile ?? `${serviceAccountDir}/token`;
  const fixed = options.token;
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
    ca: options.ca ?? readOptional(options.caFile ?? `${serviceAccountDir}/ca.crt`),
    namespace: options.namespace ?? readOptional(`${serviceAccountDir}/namespace`)?.trim(),
    clusterDomain: (options.clusterDomain ?? 'cluster.local').toLowerCase().replace(/^\.|\.$/g, ''),
    portName,
    staleAfter: options.staleAfter ?? 2_000,
    reconnectInitial,
    reconnectMax,
    listTimeout: options.listTimeout ?? 5_000,
    watchTimeoutSeconds: options.watchTimeoutSeconds ?? 300,
  };
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

function checkString(name: string, value: unknown): void {
  if (value !== undefined && (typeof value !== 'string' || value === '')) {
    throw new TypeError(`ridethrough: option "${name}" must be a non-empty string, got ${value === '' ? 'an empty string' : typeof value}`);
  }
}
