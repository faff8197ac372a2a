/** Parsed headers or trailers as undici's handlers receive them. @internal */
export type HeaderRecord = Record<string, string | string[] | undefined>;

/** Header forms undici accepts in dispatch options. @internal */
export type AnyHeaders = HeaderRecord | (string | string[] | Buffer)[] | Iterable<[string, string | string[] | undefined]> | null | undefined;

/**
 * Reads a header (case-insensitive) from any header form undici accepts.
 * @internal
 */
export function getHeader(headers: unknown, name: string): string | undefined {
  if (headers == null) return undefined;
  const lower = name.toLowerCase();
  if (Array.isArray(headers)) {
    if (headers.length > 0 && Array.isArray(headers[0])) {
      for (const pair of headers as [string, unknown][]) if (String(pair[0]).toLowerCase() === lower) return String(pair[1]);
      return undefined;
    }
    for (let i = 0; i + 1 < headers.length; i += 2) if (String(headers[i]).toLowerCase() === lower) return String(headers[i + 1]);
    return undefined;
  }
  if (typeof (headers as Iterable<unknown>)[Symbol.iterator] === 'function' && !isPlainRecord(headers)) {
    for (const [k, v] of headers as Iterable<[string, unknown]>) if (k.toLowerCase() === lower) return String(v);
    return undefined;
  }
  for (const [k, v] of Object.entries(headers as Record<string, unknown>)) {
    if (k.toLowerCase() === lower && v !== undefined) return Array.isArray(v) ? v.join(', ') : String(v);
  }
  return undefined;
}

/**
 * Returns headers that carry `host` (the original authority) when they do not already.
 * Keeps the caller's form; never mutates the input.
 * @internal
 */
export function withHost(headers: unknown, host: string): AnyHeaders {
  if (getHeader(headers, 'host') !== undefined) return headers as AnyHeaders;
  if (headers == null) return { host };
  if (Array.isArray(headers)) {
    if (headers.length > 0 && Array.isArray(headers[0])) return [['host', host], ...(headers as [string, string][])] as unknown as AnyHeaders;
    return ['host', host, ...(headers as string[])];
  }
  if (typeof (headers as Iterable<unknown>)[Symbol.iterator] === 'function' && !isPlainRecord(headers)) {
    const flat: string[] = ['host', host];
    for (const [k, v] of headers as Iterable<[string, unknown]>) {
      if (Array.isArray(v)) for (const item of v) flat.push(k, String(item));
      else if (v !== undefined) flat.push(k, String(v));
    }
    return flat;
  }
  return { host, ...(headers as Record<string, string | string[] | undefined>) };
}

function isPlainRecord(v: unknown): boolean {
  const proto = Object.getPrototypeOf(v);
  return proto === Object.prototype || proto === null;
}
