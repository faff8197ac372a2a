/**
 * The ridethrough build under test: the published build in dist/ when it exists (what users run,
 * compiled by tsup), else the TypeScript sources (through tsx, which adds per-closure overhead).
 * `npm run bench` builds first. `BENCH_SUBJECT=/path/to/dist/index.js` takes another build instead
 * (an earlier release, built in a git worktree), to compare it with raw undici under the same method.
 */
import { existsSync } from 'node:fs';
import { fileURLToPath, pathToFileURL } from 'node:url';

type Api = typeof import('../src/index.js');

const dist = new URL('../dist/index.js', import.meta.url);

const other = process.env.BENCH_SUBJECT;

/** Where the ResilientAgent under test comes from: `dist`, `src`, or the path `BENCH_SUBJECT` names. */
export const subjectBuild: string = other ? other : existsSync(fileURLToPath(dist)) ? 'dist' : 'src';

const api: Api = other
  ? ((await import(pathToFileURL(other).href)) as Api)
  : subjectBuild === 'dist'
    ? ((await import(dist.href)) as Api)
    : await import('../src/index.js');

/** The ResilientAgent class of the build under test. */
export const ResilientAgent: Api['ResilientAgent'] = api.ResilientAgent;
