import type { Socket } from 'node:net';
import { Agent, buildConnector, request } from 'undici';
import { KubernetesApiError } from './errors.js';

/** Watch events longer than this are refused (a slice holds at most 1000 endpoints: well under 1 MiB). */
const maxLineBytes = 8 * 1024 * 1024;

/**
 * The undici dispatcher of the API calls: TLS with the API server's CA, connections that never keep
 * the process alive (a watch is a request that never ends; the process must still exit when its work is done).
 * @internal
 */
export function apiDispatcher(ca: string | Buffer | undefined, connectTimeout: number): Agent {
  const connector = buildConnector({ ...(ca === undefined ? {} : { ca }), timeout: connectTimeout });
  return new Agent({
    connections: 8,
    keepAliveTimeout: 30_000,
    connect: (opts, callback) =>
      connector(opts, (err, socket) => {
        if (socket) {
          socket.unref();
          // undici refs a socket while a request runs on it: for the watch, that would be forever.
          (socket as Socket).ref = () => socket as Socket;
        }
        (callback as (e: Error | null, s: Socket | null) => void)(err, socket as Socket | null);
      }),
  });
}

/** What an API call needs. @internal */
export interface ApiCall {
  readonly server: URL;
  readonly dispatcher: Agent;
  readonly token: string | undefined;
  readonly path: string;
  readonly query: Readonly<Record<string, string>>;
  /** Longest wait for response headers, ms. */
  readonly headersTimeout: number;
  /** Longest silence between body chunks, ms. */
  readonly bodyTimeout: number;
  readonly signal: AbortSignal;
}

/** A Kubernetes `Status` object, as error bodies and watch ERROR events carry it. */
interface StatusObject {
  readonly kind?: string;
  readonly code?: number;
  readonly reason?: string;
  readonly message?: string;
}

/** Makes the typed error of a failed call from its status and its `Status` body, if any. @internal */
export function statusError(httpStatus: number, body: StatusObject | undefined, what: string): KubernetesApiError {
  const code = typeof body?.code === 'number' ? body.code : httpStatus;
  const reason = typeof body?.reason === 'string' ? body.reason : `HTTP ${httpStatus}`;
  return new KubernetesApiError(code, reason, `ridethrough: ${what} failed with ${code} ${reason}${body?.message ? `: ${body.message}` : ''}`);
}

/** GET a JSON document; non-2xx statuses throw {@link KubernetesApiError}, network errors too (status 0). @internal */
export async function getJson(call: ApiCall, what: string): Promise<unknown> {
  const res = await send(call, what);
  const text = await res.body.text().catch((err: unknown) => {
    throw networkError(err, what);
  });
  try {
    return JSON.parse(text) as unknown;
  } catch (err) {
    throw new KubernetesApiError(res.statusCode, 'BadJSON', `ridethrough: ${what} returned a body that is no JSON`, { cause: err });
  }
}

/**
 * Opens a watch and calls `onEvent` for every newline-delimited JSON event until the server ends the
 * stream (resolves) or it breaks (rejects with {@link KubernetesApiError}).
 * @internal
 */
export async function streamJsonLines(call: ApiCall, what: string, onOpen: () => void, onEvent: (event: unknown) => void): Promise<void> {
  const res = await send(call, what);
  onOpen();
  let pending = '';
  try {
    for await (const chunk of res.body) {
      pending += String(chunk);
      let nl: number;
      while ((nl = pending.indexOf('\n')) !== -1) {
        const line = pending.slice(0, nl).trim();
        pending = pending.slice(nl + 1);
        if (line !== '') onEvent(parseLine(line, what));
      }
      if (pending.length > maxLineBytes) throw new KubernetesApiError(0, 'ELINETOOLONG', `ridethrough: ${what} sent a line over ${maxLineBytes} bytes`);
    }
  } catch (err) {
    res.body.destroy();
    throw err instanceof KubernetesApiError ? err : networkError(err, what);
  }
  if (pending.trim() !== '') onEvent(parseLine(pending.trim(), what));
}

function parseLine(line: string, what: string): unknown {
  try {
    return JSON.parse(line) as unknown;
  } catch (err) {
    throw new KubernetesApiError(0, 'BadJSON', `ridethrough: ${what} sent a line that is no JSON`, { cause: err });
  }
}

async function send(call: ApiCall, what: string): Promise<Awaited<ReturnType<typeof request>>> {
  const url = new URL(call.path, call.server);
  for (const [k, v] of Object.entries(call.query)) url.searchParams.set(k, v);
  let res: Awaited<ReturnType<typeof request>>;
  try {
    res = await request(url, {
      dispatcher: call.dispatcher,
      method: 'GET',
      headers: { accept: 'application/json', ...(call.token === undefined ? {} : { authorization: `Bearer ${call.token}` }) },
      headersTimeout: call.headersTimeout,
      bodyTimeout: call.bodyTimeout,
      signal: call.signal,
    });
  } catch (err) {
    throw networkError(err, what);
  }
  if (res.statusCode >= 200 && res.statusCode < 300) return res;
  const text = await res.body.text().catch(() => '');
  let body: StatusObject | undefined;
  try {
    body = JSON.parse(text) as StatusObject;
  } catch {
    body = undefined;
  }
  throw statusError(res.statusCode, body, what);
}

function networkError(err: unknown, what: string): KubernetesApiError {
  const code = (err as { code?: unknown } | null)?.code;
  const reason = typeof code === 'string' ? code : err instanceof Error ? err.name : 'EUNKNOWN';
  return new KubernetesApiError(0, reason, `ridethrough: ${what} failed: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
}
