#!/usr/bin/env node
/**
 * `ridethrough-lab [options]`: replays pod moves on loopback and shows which HTTP clients survive
 * them. See `ridethrough-lab --help`.
 *
 * The lab runs from its TypeScript source through tsx, with the package's tsconfig, whose `paths`
 * map `ridethrough` to the repository's source: it works straight after `npm install`, no build.
 * @module
 */
import { fileURLToPath } from 'node:url';

const [major, minor] = process.versions.node.split('.').map(Number);
if (major < 22 || (major === 22 && minor < 19)) {
  process.stderr.write(`ridethrough-lab: needs Node 22.19 or later (this is ${process.version}); \`npm run demo\` brings Node 24 along\n`);
  process.exit(1);
}

const { register } = await import('tsx/esm/api');
register({ tsconfig: fileURLToPath(new URL('../tsconfig.json', import.meta.url)) });
const { runCli } = await import('../src/cli.ts');

runCli(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err) => {
    process.stderr.write(`ridethrough-lab: ${err?.stack ?? String(err)}\n`);
    process.exitCode = 1;
  },
);
