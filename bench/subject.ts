/**
 * The ridethrough build under test: the published build in dist/ when it exists (what users run,
 * compiled by tsup), else the TypeScript sources (through tsx, which adds per-closure overhead).
 * `npm run bench` builds first.
 */
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

type Api = typeof import('../src/index.js');

const dist = new URL('../dist/index.js', import.meta.url);

/** Where the ResilientAgent under test comes from: `dist` or `src`. */
export const subjectBuild: 'dist' | 'src' = existsSync(fileURLToPath(dist)) ? 'dist' : 'src';

const api: Api = subjectBuild === 'dist' ? ((await import(dist.href)) as Api) : await import('../src/index.js');

/** The ResilientAgent class of the build under test. */
export const ResilientAgent: Api['ResilientAgent'] = api.ResilientAgent;
