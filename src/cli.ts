#!/usr/bin/env node
/**
 * The `ridethrough` command: `ridethrough lab [options]` replays pod moves on loopback and shows
 * which HTTP clients survive them. See `ridethrough --help`.
 * @module
 */
import { runCli } from './lab/cli.js';

runCli(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    process.stderr.write(`ridethrough: ${(err as Error)?.stack ?? String(err)}\n`);
    process.exitCode = 1;
  },
);
