/** The calls the compatibility cases make, each reduced to what the caller observes. */
import { setTimeout as sleep } from 'node:timers/promises';
import { type Dispatcher, request } from 'undici';
import { stableHeaders } from './compare.js';
import type { ServerLog } from './servers.js';

/** A response as the caller observes it. */
export interface Seen {
  readonly status: number;
  readonly headers: Record<string, string | string[] | undefined>;
  readonly body: unknown;
}

/** Parses a JSON echo, or keeps the text. */
export function parseBody(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return text;
  }
}

/** `request()` through `d`, body read. */
export async function get(d: Dispatcher, url: string, opts: Partial<Dispatcher.RequestOptions> = {}): Promise<Seen> {
  const res = await request(url, { ...opts, dispatcher: d } as Parameters<typeof request>[1]);
  const text = await res.body.text();
  return { status: res.statusCode, headers: stableHeaders(res.headers), body: parseBody(text) };
}

/** Waits (up to `ms`) until the server has no open connection; true when it got there. */
export async function allClosedWithin(log: ServerLog, ms: number): Promise<boolean> {
  const until = performance.now() + ms;
  while (performance.now() < until) {
    if (log.open.size === 0) return true;
    await sleep(20);
  }
  return log.open.size === 0;
}

/** Milliseconds `fn` took, rounded to a coarse bucket (under `limit`, or not). */
export async function timed<T>(fn: () => Promise<T>): Promise<{ result: T; ms: number }> {
  const t0 = performance.now();
  const result = await fn();
  return { result, ms: performance.now() - t0 };
}

/** What a WebSocket client saw: events in order (`open`, `message:<text or bytes>`, `error`, `close:<code>`). */
export async function webSocketExchange(WebSocketClass: unknown, url: string, init: object, send: readonly string[]): Promise<string[]> {
  const events: string[] = [];
  await new Promise<void>((resolve) => {
    const ws = new (WebSocketClass as new (url: string, init: object) => WebSocket)(url, init);
    let left = send.length;
    const timer = setTimeout(() => {
      events.push('timeout');
      ws.close();
      resolve();
    }, 8_000);
    ws.onopen = () => {
      events.push('open');
      for (const m of send) ws.send(m);
      if (left === 0) ws.close(1000);
    };
    ws.onmessage = (e: MessageEvent) => {
      events.push(`message:${typeof e.data === 'string' ? (e.data.length > 20 ? `${e.data.length} chars` : e.data) : 'binary'}`);
      if (--left === 0) ws.close(1000);
    };
    ws.onerror = () => events.push('error');
    ws.onclose = (e: { code: number }) => {
      events.push(`close:${e.code}`);
      clearTimeout(timer);
      resolve();
    };
  });
  return events;
}

/** What an EventSource saw before `count` messages or an error (then it is closed). */
export async function eventSourceExchange(EventSourceClass: unknown, url: string, init: object, count: number): Promise<string[]> {
  const events: string[] = [];
  await new Promise<void>((resolve) => {
    const es = new (EventSourceClass as new (url: string, init: object) => EventSource)(url, init);
    const end = (): void => {
      clearTimeout(timer);
      es.close();
      resolve();
    };
    const timer = setTimeout(() => {
      events.push('timeout');
      end();
    }, 8_000);
    es.onopen = () => events.push('open');
    es.onmessage = (e: MessageEvent) => {
      events.push(`message:${String(e.data).length > 20 ? `${String(e.data).length} chars` : String(e.data)}`);
      if (events.filter((x) => x.startsWith('message')).length === count) end();
    };
    es.onerror = () => {
      events.push(`error:${es.readyState}`);
      end();
    };
  });
  return events;
}
