/**
 * The options of `kubernetesEndpoints()`: checked at construction from their option table, as the
 * agent's are. A wrong type is a TypeError, a value out of range a RangeError (exactly those classes),
 * and the message names the option's path and what is allowed; the range the docs table shows is the
 * one enforced. No traffic: nothing here talks to an API server.
 */
import { describe, expect, it } from 'vitest';
import { kubernetesEndpoints } from '../../src/kubernetes/index.js';
import { kubernetesOptions, resolveKubernetesConfig, serviceAccountDir } from '../../src/kubernetes/config.js';
import { type OptionGroup, rowsOf } from '../../src/utils/option-table.js';
import { expectThrow } from '../support/expect-throw.js';

const make = (options: unknown) => () => kubernetesEndpoints(options as never);

describe('bad options are refused at construction, naming the option and its range', () => {
  it.each([
    [{ staleAfter: -1 }, RangeError, 'option "staleAfter" must be a number of milliseconds from 0 to 60000, got -1'],
    [{ staleAfter: '5' }, TypeError, 'option "staleAfter" must be a number of milliseconds from 0 to 60000, got the string "5"'],
    [{ listTimeout: 50 }, RangeError, 'option "listTimeout" must be a number of milliseconds from 100 to 600000, got 50'],
    [{ watchTimeoutSeconds: 1.5 }, RangeError, 'option "watchTimeoutSeconds" must be an integer of seconds from 1 to 3600, got 1.5'],
    [{ watchTimeoutSeconds: 7200 }, RangeError, 'option "watchTimeoutSeconds" must be an integer of seconds from 1 to 3600, got 7200'],
    [{ reconnect: { initialDelay: 0 } }, RangeError, 'option "reconnect.initialDelay" must be a number of milliseconds from 1 to 60000, got 0'],
    [{ reconnect: { initialDelay: 500, maxDelay: 100 } }, RangeError, 'option "reconnect.maxDelay" must be at least reconnect.initialDelay (500), got 100'],
    [{ reconnect: 5 }, TypeError, 'option "reconnect" must be an object, got number 5'],
    [{ reconnect: { max: 1 } }, TypeError, 'unknown option "reconnect.max"; known options are initialDelay, maxDelay'],
    [{ apiServer: 'ftp://x' }, TypeError, 'option "apiServer" must be an http(s) URL, got "ftp://x"'],
    [{ token: '' }, TypeError, 'option "token" must be a non-empty string, got an empty string'],
    [{ ca: 3 }, TypeError, 'option "ca" must be a PEM string or a Buffer, got number 3'],
    [{ portName: { inventory: 8080 } }, TypeError, 'option "portName.inventory" must be a non-empty string, got number 8080'],
  ])('%j', (options, Class, message) => {
    expectThrow(make(options), Class, `ridethrough: ${message}`);
  });

  it('an unknown key (a typo) is named, with the known ones', () => {
    expect(make({ staleafter: 1 })).toThrow(TypeError);
    expect(make({ staleafter: 1 })).toThrow(/^ridethrough: unknown option "staleafter"; known options are apiServer, token, tokenFile, ca, caFile, /);
  });
});

describe('the option table', () => {
  const rows = rowsOf(kubernetesOptions as OptionGroup<object>);

  it('enforces the range its docs rows show: just past each end is a RangeError naming the path', () => {
    const ranged = rows.filter((r) => /^(integer )?\d+–\d+/.test(r.rangeText));
    expect(ranged.map((r) => r.path)).toEqual(['staleAfter', 'reconnect.initialDelay', 'reconnect.maxDelay', 'listTimeout', 'watchTimeoutSeconds']);
    for (const r of ranged) {
      const [, integer, min, max] = /^(integer )?(\d+)–(\d+)/.exec(r.rangeText)! as unknown as [string, string | undefined, string, string];
      const at = (v: number): Record<string, unknown> => {
        const [head, tail] = r.path.split('.') as [string, string | undefined];
        // The relation maxDelay ≥ initialDelay stays out of the way: the other field at its widest.
        return tail === undefined ? { [head]: v } : { [head]: { initialDelay: 1, maxDelay: 600_000, [tail]: v } };
      };
      const what = `${integer ? 'an integer' : 'a number'} of ${r.path === 'watchTimeoutSeconds' ? 'seconds' : 'milliseconds'} from ${min} to ${max}`;
      for (const bad of [Number(min) - 1, Number(max) + 1]) {
        expectThrow(make(at(bad)), RangeError, `ridethrough: option "${r.path}" must be ${what}, got ${bad}`);
      }
      for (const good of [Number(min), Number(max)]) expect(() => kubernetesEndpoints(at(good) as never)).not.toThrow();
    }
  });

  it('resolves the defaults its docs rows show, and the in-cluster ones from the environment', () => {
    const c = resolveKubernetesConfig({ token: 't', caFile: '/nonexistent/ca.crt', namespace: 'shop' }, {});
    expect(c.apiServer).toBeUndefined();
    expect(c.ca).toBeUndefined();
    expect(c.credentialKey).toBe('token:t');
    expect([c.staleAfter, c.reconnectInitial, c.reconnectMax, c.listTimeout, c.watchTimeoutSeconds]).toEqual([2_000, 200, 30_000, 5_000, 300]);
    const shown = Object.fromEntries(rows.map((r) => [r.path, r.defaultText]));
    expect([shown.staleAfter, shown['reconnect.initialDelay'], shown['reconnect.maxDelay'], shown.listTimeout, shown.watchTimeoutSeconds]).toEqual([
      '2000',
      '200',
      '30000',
      '5000',
      '300',
    ]);
    expect(c.clusterDomain).toBe('cluster.local');
    expect(resolveKubernetesConfig({ clusterDomain: 'Corp.Example.' }, {}).clusterDomain).toBe('corp.example');

    const inCluster = resolveKubernetesConfig({}, { KUBERNETES_SERVICE_HOST: '10.96.0.1', KUBERNETES_SERVICE_PORT: '443' });
    expect(inCluster.apiServer?.href).toBe('https://10.96.0.1/');
    expect(inCluster.credentialKey).toBe(`file:${serviceAccountDir}/token`);
    expectThrow(
      () => resolveKubernetesConfig({}, { KUBERNETES_SERVICE_HOST: 'bad host' }),
      TypeError,
      'ridethrough: option "apiServer" must be an http(s) URL, got "https://bad host:443"',
    );
  });
});
