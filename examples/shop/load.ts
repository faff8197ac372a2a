/**
 * A small load generator for watching the storefront's error rate while pods move in a cluster.
 * It calls the storefront with plain `fetch` (no ridethrough: it measures what the storefront's
 * callers see) at a fixed rate, and prints one line per second.
 *
 *   node --import tsx shop/load.ts http://storefront:8080          # inside the cluster (see README)
 *   npx tsx examples/shop/load.ts http://localhost:8080            # through kubectl port-forward
 *
 * Env: RPS (default 20), SECONDS (default: until Ctrl-C).
 */
const base = process.argv[2] ?? 'http://storefront:8080';
const rps = Number(process.env.RPS ?? 20);
const seconds = process.env.SECONDS ? Number(process.env.SECONDS) : Number.POSITIVE_INFINITY;
if (!Number.isFinite(rps) || rps <= 0) throw new Error('RPS must be a positive number');

interface Tally {
  ok: number;
  errors: number;
  codes: Map<string, number>;
  latencies: number[];
}
const fresh = (): Tally => ({ ok: 0, errors: 0, codes: new Map(), latencies: [] });
let tally = fresh();
let total = { ok: 0, errors: 0 };
let stopping = false;

async function one(i: number): Promise<void> {
  const started = performance.now();
  let code: string | undefined;
  try {
    const res = await fetch(`${base}/products/${(i % 10) + 1}`, { signal: AbortSignal.timeout(30_000) });
    const body = (await res.json().catch(() => ({}))) as { code?: string };
    if (res.status !== 200) code = body.code ?? `HTTP_${res.status}`;
  } catch (err) {
    const cause = (err as { cause?: { code?: string } }).cause;
    code = cause?.code ?? (err as Error).name;
  }
  if (code) {
    tally.errors++;
    tally.codes.set(code, (tally.codes.get(code) ?? 0) + 1);
  } else {
    tally.ok++;
    tally.latencies.push(performance.now() - started);
  }
}

function report(second: number): void {
  const t = tally;
  tally = fresh();
  total = { ok: total.ok + t.ok, errors: total.errors + t.errors };
  const sorted = t.latencies.sort((a, b) => a - b);
  const p99 = sorted.length ? Math.round(sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * 0.99))]!) : 0;
  const codes = [...t.codes].map(([k, v]) => `${k}=${v}`).join(' ');
  console.log(
    `${new Date().toISOString().slice(11, 19)} t=${String(second).padStart(4)}s ok=${String(t.ok).padStart(3)} errors=${String(t.errors).padStart(3)} p99=${p99}ms ${codes}`,
  );
}

process.once('SIGINT', () => (stopping = true));
process.once('SIGTERM', () => (stopping = true));
const t0 = Date.now();
let sent = 0;
let second = 0;
const pending = new Set<Promise<void>>();
while (!stopping && Date.now() - t0 < seconds * 1000) {
  const p = one(sent++).finally(() => pending.delete(p));
  pending.add(p);
  const now = Date.now();
  if (now - t0 >= (second + 1) * 1000) report(++second);
  await new Promise((r) => setTimeout(r, Math.max(0, t0 + (sent * 1000) / rps - Date.now())));
}
await Promise.all(pending);
report(second + 1);
const all = total.ok + total.errors;
console.log(`total: ${all} requests, ${total.errors} errors (${all ? ((100 * total.errors) / all).toFixed(2) : '0.00'}%)`);
