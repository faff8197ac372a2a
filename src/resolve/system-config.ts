import { readFileSync } from 'node:fs';
import { isIP } from 'node:net';

/** What a pod's resolver reads from `/etc/resolv.conf`. @internal */
export interface ResolvConf {
  readonly nameservers: string[];
  readonly search: string[];
  readonly ndots: number;
}

/**
 * Parses resolv.conf text: `nameserver`, `search`/`domain` and `options ndots:N`.
 * @internal
 */
export function parseResolvConf(text: string): ResolvConf {
  const nameservers: string[] = [];
  let search: string[] = [];
  let ndots = 1;
  for (const raw of text.split('\n')) {
    const line = raw.replace(/[#;].*$/, '').trim();
    if (!line) continue;
    const [keyword, ...rest] = line.split(/\s+/);
    if (keyword === 'nameserver' && rest[0]) nameservers.push(rest[0]);
    else if (keyword === 'search') search = rest.filter(Boolean);
    else if (keyword === 'domain' && rest[0]) search = [rest[0]];
    else if (keyword === 'options') {
      for (const opt of rest) {
        const m = /^ndots:(\d+)$/.exec(opt);
        if (m) ndots = Math.min(15, Number(m[1]));
      }
    }
  }
  return { nameservers, search, ndots };
}

/** Reads and parses a resolv.conf; a missing file gives an empty configuration. @internal */
export function readResolvConf(path: string): ResolvConf {
  try {
    return parseResolvConf(readFileSync(path, 'utf8'));
  } catch {
    return { nameservers: [], search: [], ndots: 1 };
  }
}

/**
 * Parses hosts-file text into a map from lower-case name to addresses (file order).
 * @internal
 */
export function parseHostsFile(text: string): Map<string, string[]> {
  const hosts = new Map<string, string[]>();
  for (const raw of text.split('\n')) {
    const line = raw.replace(/#.*$/, '').trim();
    if (!line) continue;
    const [address, ...names] = line.split(/\s+/);
    if (!address || !isIP(address.replace(/%.*$/, ''))) continue;
    for (const name of names) {
      const key = name.toLowerCase().replace(/\.$/, '');
      const list = hosts.get(key) ?? [];
      if (!list.includes(address)) list.push(address);
      hosts.set(key, list);
    }
  }
  return hosts;
}

/** Reads and parses a hosts file; a missing file gives an empty map. @internal */
export function readHostsFile(path: string): Map<string, string[]> {
  try {
    return parseHostsFile(readFileSync(path, 'utf8'));
  } catch {
    return new Map();
  }
}
