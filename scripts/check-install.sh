#!/usr/bin/env bash
# Installs the package as a user would and uses it: `npm pack`s the library, installs the tarball into a
# fresh empty project on each supported Node line (22, 24, 26) and there checks an ESM import and a
# CommonJS require (without the optional peer @opentelemetry/api), then with it the subpath entries, a type-check of a small consumer under `moduleResolution` node16 and
# bundler (with the TypeScript of our devDependencies), errors recognised across the ESM and CommonJS
# builds, and a real request through `resilientFetch` to a loopback HTTP server. Prints the tarball's
# packed and unpacked size.
#   scripts/check-install.sh [22 24 26 ...]
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
lines=("$@")
((${#lines[@]})) || lines=(22 24 26)
tmp="$(mktemp -d "${TMPDIR:-/tmp}/ridethrough-install-XXXXXX")"
trap 'rm -rf "$tmp"' EXIT
start=$(date +%s)
say() { printf 'check-install: %s (%ss)\n' "$*" "$(($(date +%s) - start))"; }

# The build CI just made is what gets packed (prepack would rebuild it); build only when there is none.
[[ -f dist/index.js && -f dist/index.cjs ]] || scripts/with-node.sh 24 -- npm run build >/dev/null
scripts/with-node.sh 24 -- npm pack --ignore-scripts --json --pack-destination "$tmp" --loglevel=error >"$tmp/pack.json"
read -r tarball packed unpacked entries < <(scripts/with-node.sh 24 -- node -e '
  const [p] = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"));
  console.log(p.filename, p.size, p.unpackedSize, p.entryCount);' "$tmp/pack.json")
say "packed $tarball: $packed bytes packed ($((packed / 1024)) kB), $unpacked unpacked ($((unpacked / 1024)) kB), $entries files"
if [[ -n "${GITHUB_STEP_SUMMARY:-}" ]]; then
  echo "tarball: $((packed / 1024)) kB packed, $((unpacked / 1024)) kB unpacked, $entries files" >>"$GITHUB_STEP_SUMMARY"
fi

# The consumer's TypeScript and Node types: the versions this repository builds and tests with.
dev() { scripts/with-node.sh 24 -- node -p "require('./package.json').devDependencies['$1']"; }

otelapi="$(scripts/with-node.sh 24 -- node -p "require('./package.json').peerDependencies['@opentelemetry/api']")"

# The consumer: one ESM script, one CommonJS script, a TypeScript file per resolution mode.
consumer="$tmp/consumer-template"
mkdir -p "$consumer"
cat >"$consumer/package.json" <<EOF
{ "name": "ridethrough-consumer", "version": "1.0.0", "private": true,
  "devDependencies": { "typescript": "$(dev typescript)", "@types/node": "$(dev @types/node)" } }
EOF
cat >"$consumer/esm.mjs" <<'EOF'
import { createServer } from 'node:http';
import { createRequire } from 'node:module';
import * as rt from 'ridethrough';

const otel = await import('ridethrough/otel');
const kubernetes = await import('ridethrough/kubernetes');
if (typeof otel.instrumentRidethrough !== 'function') throw new Error('ridethrough/otel: no instrumentRidethrough');
const cjs = createRequire(import.meta.url)('ridethrough');
for (const name of ['resilientFetch', 'createResilientFetch', 'ResilientAgent', 'resilience', 'installGlobalDispatcher', 'resilientConnect', 'createResilientLookup', 'RidethroughError']) {
  if (typeof rt[name] !== 'function') throw new Error(`ESM: ${name} is ${typeof rt[name]}`);
}
if (typeof otel !== 'object' || typeof kubernetes !== 'object') throw new Error('subpath entries did not load');

// A real request through resilientFetch to a loopback server.
const server = createServer((req, res) => res.end(`hello ${req.url}`));
await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
const { port } = server.address();
const fetcher = rt.createResilientFetch({ deadline: 5_000 });
const res = await fetcher(`http://127.0.0.1:${port}/from-the-tarball`);
const body = await res.text();
if (res.status !== 200 || body !== 'hello /from-the-tarball') throw new Error(`resilientFetch: ${res.status} ${body}`);
await fetcher.close?.();
server.close();

// The dual-package hazard: an error of the CommonJS copy is recognised by the ESM classes and back.
if (cjs.RidethroughError === rt.RidethroughError) throw new Error('the ESM and CommonJS builds are one copy');
const checks = [
  new cjs.CircuitOpenError('http://h:1', undefined) instanceof rt.CircuitOpenError,
  new cjs.CircuitOpenError('http://h:1', undefined) instanceof rt.RidethroughError,
  !(new cjs.CircuitOpenError('http://h:1', undefined) instanceof rt.DeadlineExceededError),
  new rt.DeadlineExceededError(1) instanceof cjs.DeadlineExceededError,
  !(new Error('x') instanceof cjs.RidethroughError),
];
if (checks.includes(false)) throw new Error(`instanceof across builds: ${checks}`);
console.log(`esm ok: ${res.status} "${body}", errors recognised across builds`);
EOF
# The main entry alone, before the optional peer dependency is installed: it must not need it.
cat >"$consumer/core.mjs" <<'EOF'
import { createRequire } from 'node:module';
import * as rt from 'ridethrough';
const cjs = createRequire(import.meta.url)('ridethrough');
await new rt.ResilientAgent().close();
await new cjs.ResilientAgent().close();
console.log('main entry ok without @opentelemetry/api (ESM and CommonJS)');
EOF
cat >"$consumer/cjs.cjs" <<'EOF'
const rt = require('ridethrough');
const otel = require('ridethrough/otel');
const kubernetes = require('ridethrough/kubernetes');
for (const name of ['resilientFetch', 'ResilientAgent', 'resilience', 'resilientConnect', 'RidethroughError']) {
  if (typeof rt[name] !== 'function') throw new Error(`CommonJS: ${name} is ${typeof rt[name]}`);
}
if (typeof otel !== 'object' || typeof kubernetes !== 'object') throw new Error('subpath entries did not load');
new rt.ResilientAgent().close().then(() => console.log('cjs ok'));
EOF
# Type-checked only: what a user writes against the README.
cat >"$consumer/consumer.ts" <<'EOF'
import { createResilientFetch, DeadlineExceededError, ResilientAgent, RidethroughError, type ResilienceOptions } from 'ridethrough';
import * as otel from 'ridethrough/otel';
import * as kubernetes from 'ridethrough/kubernetes';

const options: ResilienceOptions = { deadline: 15_000, breaker: { threshold: 3, halfOpenSampling: { calls: 3, threshold: 0.34 } } };
const agent = new ResilientAgent(options);
const fetcher = createResilientFetch({ deadline: 3_000 });
export async function get(url: string): Promise<number> {
  try {
    const res = await fetcher(url, { ridethrough: { deadline: 1_000 } });
    return res.status;
  } catch (err) {
    if (err instanceof DeadlineExceededError) return -err.deadlineMs;
    if (err instanceof RidethroughError) return err.attempts.length;
    throw err;
  }
}
export const parts: unknown[] = [agent, otel, kubernetes];
EOF
cat >"$consumer/consumer.cts" <<'EOF'
import rt = require('ridethrough');
export const agent: InstanceType<typeof rt.ResilientAgent> = new rt.ResilientAgent({ deadline: 2_000 });
EOF
cat >"$consumer/tsconfig.node16.json" <<'EOF'
{ "compilerOptions": { "module": "node16", "moduleResolution": "node16", "target": "es2023", "lib": ["es2023"], "types": ["node"], "strict": true, "noEmit": true, "skipLibCheck": false }, "files": ["consumer.ts", "consumer.cts"] }
EOF
cat >"$consumer/tsconfig.bundler.json" <<'EOF'
{ "compilerOptions": { "module": "preserve", "moduleResolution": "bundler", "target": "es2023", "lib": ["es2023"], "types": ["node"], "strict": true, "noEmit": true, "skipLibCheck": false }, "files": ["consumer.ts"] }
EOF

for v in "${lines[@]}"; do
  dir="$tmp/node$v"
  cp -r "$consumer" "$dir"
  (
    cd "$dir"
    "$root/scripts/with-node.sh" "$v" -- node --version
    "$root/scripts/with-node.sh" "$v" -- npm install --no-audit --no-fund --prefer-offline --loglevel=error \
      "$tmp/$tarball" >/dev/null
    "$root/scripts/with-node.sh" "$v" -- node core.mjs
    # What a user of ridethrough/otel adds: the optional peer dependency.
    "$root/scripts/with-node.sh" "$v" -- npm install --no-audit --no-fund --prefer-offline --loglevel=error \
      "@opentelemetry/api@$otelapi" >/dev/null
    "$root/scripts/with-node.sh" "$v" -- node esm.mjs
    "$root/scripts/with-node.sh" "$v" -- node cjs.cjs
    "$root/scripts/with-node.sh" "$v" -- node node_modules/typescript/bin/tsc -p tsconfig.node16.json
    "$root/scripts/with-node.sh" "$v" -- node node_modules/typescript/bin/tsc -p tsconfig.bundler.json
    echo "types ok: node16 and bundler ($("$root/scripts/with-node.sh" "$v" -- node node_modules/typescript/bin/tsc --version))"
  ) 2>&1 | sed "s/^/  node $v: /"
  say "Node $v: installed from the tarball, imported, required, type-checked, fetched"
done
say "done: $((packed / 1024)) kB packed, $((unpacked / 1024)) kB unpacked"
