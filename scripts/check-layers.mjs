#!/usr/bin/env node
// Fails when a file in src/ imports from a layer above its own (docs/architecture.md lists the layers).
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';

const rank = {
  errors: 0,
  events: 0,
  timing: 0,
  utils: 0,
  policy: 1,
  resolve: 2,
  health: 2,
  endpoints: 3,
  core: 4,
  http: 5,
  tcp: 5,
  '.': 6,
  otel: 6,
  kubernetes: 6,
};
const root = resolve(import.meta.dirname, '..', 'src');
const files = [];
(function walk(dir) {
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) walk(path);
    else if (name.endsWith('.ts')) files.push(path);
  }
})(root);

const layerOf = (file) => {
  const top = relative(root, file).split('/')[0];
  return top.endsWith('.ts') ? '.' : top;
};
const problems = [];
for (const file of files) {
  const from = layerOf(file);
  if (!(from in rank)) problems.push(`${relative(process.cwd(), file)}: folder "${from}" has no layer in scripts/check-layers.mjs`);
  const text = readFileSync(file, 'utf8');
  for (const m of text.matchAll(/(?:import|export)\s[^'"]*?from\s+'(\.[^']+)'/g)) {
    const target = resolve(dirname(file), m[1]);
    const to = layerOf(target);
    if (rank[to] > rank[from]) problems.push(`${relative(process.cwd(), file)} (${from}) imports ${m[1]} (${to}): a layer above`);
    // Same layer, another folder: allowed only between siblings that do not depend on each other in turn.
  }
}
if (problems.length > 0) {
  console.error(`check-layers: ${problems.length} import(s) run up a layer:\n${problems.join('\n')}`);
  process.exit(1);
}
console.log(`check-layers: ${files.length} files, no import runs up a layer`);
