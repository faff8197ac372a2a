/**
 * Where a client's instructions go, by function and by kind, from the dumps `bench:instructions --keep`
 * leaves: callgrind names native code and V8's builtins itself, and JIT-compiled JavaScript only as
 * addresses; this names those from V8's perf map (`--perf-basic-prof` writes /tmp/perf-<pid>.map, and
 * each dump says its pid). Counts are self cost (a function's own instructions, not its callees'),
 * per request. A function V8 inlined counts in its caller, so compare whole buckets, not single
 * JavaScript functions, between two clients.
 *
 * Usage:
 *   npm run bench:instructions -- --clients passthrough,resilient --keep /tmp/cg --node-flag=--perf-basic-prof
 *   ./node_modules/.bin/node --import tsx bench/callgrind-functions.ts /tmp/cg/passthrough-1.thread01.callgrind \
 *     /tmp/cg/resilient-1.thread01.callgrind [--requests 10000] [--top 40]
 *
 * With one dump it prints its buckets and its costliest functions; with several, the buckets side by
 * side and the functions whose cost differs most between the first dump and the last.
 * `--requests` must be the measured requests of the `bench:instructions` run (its default, 10 000).
 * `--callers TEXT` adds, per dump, who calls the functions whose name contains TEXT: calls per request
 * and the calls' inclusive cost per request (`--callers Builtins_LoadIC_Megamorphic` says which code's
 * inline caches went megamorphic; `--callers 'start file'` what one of ours calls is counted under).
 *
 * @module
 */
import { readFile } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import { positiveOption } from './lib.js';

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    requests: { type: 'string', default: '10000' },
    top: { type: 'string', default: '40' },
    callers: { type: 'string' },
  },
});
if (positionals.length === 0) throw new RangeError('give one or more callgrind dumps (bench:instructions --keep DIR writes them)');
const requests = positiveOption('requests', values.requests);
const top = positiveOption('top', values.top);

/** One entry of V8's perf map: code at [start, end) is `name`. */
interface MapEntry {
  start: number;
  end: number;
  name: string;
}

/** Reads a perf map; where V8 reused an address, the later entry wins (code is moved and replaced as it tiers up). */
async function readPerfMap(file: string): Promise<MapEntry[]> {
  const byStart = new Map<number, MapEntry>();
  for (const line of (await readFile(file, 'utf8')).split('\n')) {
    const first = line.indexOf(' ');
    const second = line.indexOf(' ', first + 1);
    if (first < 0 || second < 0) continue;
    const start = Number.parseInt(line.slice(0, first), 16);
    byStart.set(start, { start, end: start + Number.parseInt(line.slice(first + 1, second), 16), name: line.slice(second + 1) });
  }
  return [...byStart.values()].sort((a, b) => a.start - b.start);
}

/** The perf-map name of the code at `address`, by binary search. */
function lookup(entries: readonly MapEntry[], address: number): string | undefined {
  let lo = 0;
  let hi = entries.length - 1;
  while (lo <= hi) {
    const mid = (lo + hi) >> 1;
    const e = entries[mid]!;
    if (address < e.start) hi = mid - 1;
    else if (address >= e.end) lo = mid + 1;
    else return e.name;
  }
  return undefined;
}

/** Calls from one function to another over a dump, per request. */
interface CallEdge {
  caller: string;
  callee: string;
  calls: number;
  /** The calls' inclusive cost (the callee and everything it called). */
  cost: number;
}

/** One dump, per request: each function's self cost, and the calls between functions. */
interface Dump {
  self: Map<string, number>;
  calls: CallEdge[];
}

/** Reads a dump (callgrind's compressed format: `fn=(id) name`, `cfn=`, `calls=` lines), names resolved. */
async function readDump(file: string): Promise<Dump> {
  const text = await readFile(file, 'utf8');
  const pid = /^pid:\s*(\d+)/m.exec(text)?.[1];
  const entries = pid === undefined ? [] : await readPerfMap(`/tmp/perf-${pid}.map`).catch(() => []);
  const names = new Map<string, string>();
  const costs = new Map<string, number>();
  const edges = new Map<string, { caller: string; callee: string; calls: number; cost: number }>();
  let current = '';
  let callee = '';
  let pendingCall: { caller: string; callee: string; calls: number; cost: number } | undefined;
  for (const line of text.split('\n')) {
    if (line.startsWith('fn=') || line.startsWith('cfn=')) {
      const m = /^c?fn=\((\d+)\)(?: (.*))?$/.exec(line);
      if (!m) continue;
      if (m[2] !== undefined) names.set(m[1]!, m[2]);
      if (line.startsWith('fn=')) current = m[1]!;
      else callee = m[1]!;
      continue;
    }
    if (line.startsWith('calls=')) {
      // The next cost line is the call's inclusive cost, not this function's own.
      const key = `${current} ${callee}`;
      pendingCall = edges.get(key) ?? { caller: current, callee, calls: 0, cost: 0 };
      edges.set(key, pendingCall);
      pendingCall.calls += Number(line.slice(6).split(' ')[0]);
      continue;
    }
    const c = line.charCodeAt(0);
    if ((c >= 48 && c <= 57) || c === 43 || c === 45 || c === 42) {
      const cost = Number(line.split(' ')[1]);
      if (!Number.isFinite(cost)) continue;
      if (pendingCall !== undefined) {
        pendingCall.cost += cost;
        pendingCall = undefined;
        continue;
      }
      costs.set(current, (costs.get(current) ?? 0) + cost);
    }
  }
  const nameOf = (id: string): string => {
    let name = names.get(id) ?? '?';
    if (name.startsWith('0x')) name = lookup(entries, Number.parseInt(name.split("'")[0]!, 16)) ?? 'JIT code (not in the perf map)';
    // The tier marker (`*` TurboFan, `+` Maglev, `^` Sparkplug, `~` interpreter) is dropped: one function, one line.
    return name.replace(/^JS:[*+^~]?'?/, 'JS:');
  };
  const self = new Map<string, number>();
  for (const [id, cost] of costs) {
    const name = nameOf(id);
    self.set(name, (self.get(name) ?? 0) + cost / requests);
  }
  const calls = [...edges.values()].map((e) => ({ caller: nameOf(e.caller), callee: nameOf(e.callee), calls: e.calls / requests, cost: e.cost / requests }));
  return { self, calls };
}

/** The kind of code a function name is. */
function bucketOf(name: string): string {
  if (/Scaveng|heap::|Heap::|IteratePointers|Marking|Sweep|ObjectCache|SizeFromMap|Evacuat|MarkCompact|GCTracer/.test(name)) return 'collector';
  if (name.startsWith('JS:') && /\/dist\/|\/src\//.test(name) && !name.includes('node_modules')) return 'ridethrough';
  if (name.startsWith('JS:') && name.includes('node_modules/undici')) return 'undici JavaScript';
  if (name.startsWith('JS:') && name.includes('node:')) return "Node's JavaScript";
  if (name.startsWith('JS:') && name.includes('/bench/')) return 'benchmark JavaScript';
  if (name.startsWith('JS:')) return 'other JavaScript and wasm';
  if (name.startsWith('Builtins_')) return 'V8 builtins';
  if (/ostream|JSONWriter|JsonParser/.test(name)) return 'report output';
  return 'native code';
}

const read = await Promise.all(positionals.map(readDump));
const dumps = read.map((d) => d.self);
const label = (file: string): string => file.slice(file.lastIndexOf('/') + 1).replace(/\.thread\d+\.callgrind$/, '');
const cell = (n: number): string => Math.round(n).toLocaleString('en-US').padStart(15);

const buckets = dumps.map((d) => {
  const b = new Map<string, number>();
  for (const [name, cost] of d) {
    const kind = bucketOf(name);
    b.set(kind, (b.get(kind) ?? 0) + cost);
  }
  return b;
});
const kinds = [...new Set(buckets.flatMap((b) => [...b.keys()]))].sort((a, b) => (buckets.at(-1)!.get(b) ?? 0) - (buckets.at(-1)!.get(a) ?? 0));
console.log(`Instructions per request, self cost (${requests} requests):\n`);
console.log(`${'kind'.padEnd(28)}${positionals.map((f) => label(f).padStart(15)).join('')}`);
for (const k of kinds) console.log(`${k.padEnd(28)}${buckets.map((b) => cell(b.get(k) ?? 0)).join('')}`);
const sum = (b: Map<string, number>, skip: string[] = []): number => [...b].reduce((s, [k, v]) => (skip.includes(k) ? s : s + v), 0);
console.log(`${'all'.padEnd(28)}${buckets.map((b) => cell(sum(b))).join('')}`);
console.log(`${'all but the collector'.padEnd(28)}${buckets.map((b) => cell(sum(b, ['collector', 'report output']))).join('')}`);

const first = dumps[0]!;
const last = dumps.at(-1)!;
if (dumps.length === 1) {
  console.log(`\nCostliest functions:`);
  for (const [name, cost] of [...first].sort((a, b) => b[1] - a[1]).slice(0, top)) console.log(`${cell(cost)}  ${name}`);
} else {
  console.log(`\nFunctions whose cost differs most (${label(positionals.at(-1)!)} minus ${label(positionals[0]!)}; collector left out):`);
  const names = [...new Set([...first.keys(), ...last.keys()])].filter((n) => bucketOf(n) !== 'collector');
  const diff = (n: string): number => (last.get(n) ?? 0) - (first.get(n) ?? 0);
  for (const n of names.sort((a, b) => Math.abs(diff(b)) - Math.abs(diff(a))).slice(0, top)) {
    console.log(`${cell(diff(n))}${cell(first.get(n) ?? 0)}${cell(last.get(n) ?? 0)}  ${n.slice(0, 140)}`);
  }
}

if (values.callers !== undefined) {
  const text = values.callers;
  for (const [i, d] of read.entries()) {
    console.log(`\nCalls into functions named like "${text}" in ${label(positionals[i]!)}, per request (calls, inclusive cost, caller -> callee):`);
    const edges = d.calls.filter((e) => e.callee.includes(text)).sort((a, b) => b.cost - a.cost);
    for (const e of edges.slice(0, top)) console.log(`${e.calls.toFixed(2).padStart(8)}${cell(e.cost)}  ${e.caller.slice(0, 90)} -> ${e.callee.slice(0, 70)}`);
    if (edges.length === 0) console.log('  none');
  }
}
