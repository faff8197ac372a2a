/**
 * What a scenario is: a cast of pods behind a DNS name, and a timeline of things happening to them.
 * @module
 */
import type { DnsServer, ExecutionLedger, LabPod, PodMode } from '@ridethrough/testbed';
import type { LabFirewall } from '../firewall.js';
import type { LabEvent, ScenarioName } from '../types.js';

/** TTL of the service's A records, in seconds (CoreDNS's default). */
export const recordTtl = 5;

/** What the lab gives a scenario to set itself up with. */
export interface ScenarioContext {
  /** How long traffic runs, in ms. */
  readonly durationMs: number;
  /** Requests per second per client. */
  readonly rate: number;
  /** The service's DNS name. */
  readonly host: string;
  /** The port every pod listens on. */
  readonly port: number;
  /** The lab's DNS server. */
  readonly dns: DnsServer;
  /** The lab's firewall; present for scenarios that need root. */
  readonly firewall: LabFirewall | undefined;
  /** Executions per request id, fed by every pod of the scenario. */
  readonly ledger: ExecutionLedger;
  /** An address of the scenario's own loopback subnet (`127.0.1xx.host`). */
  address(host: number): string;
  /** Starts a pod at the next free address of the subnet, named `inventory-N`. */
  startPod(mode?: PodMode, options?: { idleCloseMs?: number }): Promise<LabPod>;
  /**
   * Makes the service name answer with these pods' addresses (or these addresses), TTL
   * {@link recordTtl}. The lab rotates the order of the records every 50 ms, as CoreDNS's
   * `loadbalance` plugin rotates them per answer.
   */
  publish(targets: readonly (LabPod | string)[]): void;
  /**
   * Declares that `target` can no longer serve from now on (stopped, blackholed, its responses
   * dropped). Call it once the fault is in place. With {@link publish}, it tells the lab when no
   * endpoint a client could know of was reachable: the scenario's physical bound.
   */
  lost(target: LabPod | string): void;
  /**
   * Publishes the service's endpoints on the lab's Kubernetes API double (scenarios with
   * `kubernetesApi` only): one EndpointSlice, each endpoint ready, or terminating but still serving.
   */
  publishEndpoints(endpoints: readonly { readonly target: LabPod | string; readonly terminating?: boolean }[]): void;
  /**
   * Runs `action` at `t` ms after traffic starts and marks the event on the report's charts.
   * An action that throws ends the scenario as failed.
   */
  at(t: number, event: Omit<LabEvent, 't'>, action: () => void | Promise<void>): void;
}

/** A scenario the lab can replay. */
export interface ScenarioDefinition {
  /** Its name in options and tables. */
  readonly name: ScenarioName;
  /** One-line title. */
  readonly title: string;
  /** What it reproduces and what to look for. */
  readonly summary: string;
  /** The method of every request. */
  readonly method: 'GET' | 'POST';
  /** Whether it needs root (iptables). */
  readonly needsRoot: boolean;
  /** Whether it runs a Kubernetes API double (EndpointSlices) next to DNS, for the `ridethrough-k8s` client. */
  readonly kubernetesApi?: boolean;
  /** Traffic duration when `--duration` is not given, in ms. */
  readonly defaultDurationMs: number;
  /** The planned timeline, in words, for a given duration, service name and rate. */
  timing(durationMs: number, host: string, rate: number): string[];
  /** Starts the pods, publishes DNS and schedules the timeline. Throw {@link ScenarioSkip} to skip. */
  setup(ctx: ScenarioContext): Promise<void>;
}

/** Thrown by a scenario's setup when it cannot run here; the reason is reported. */
export class ScenarioSkip extends Error {
  override readonly name = 'ScenarioSkip';
}

/** Common phases: traffic runs `warm` ms before the fault; DNS lags `lag` ms behind the endpoint change. */
export function phases(durationMs: number): { warm: number; lag: number } {
  return { warm: Math.round(Math.min(2_000, Math.max(1_000, durationMs * 0.25))), lag: 2_000 };
}

/** `1.75 s` */
export function seconds(ms: number): string {
  return `${Number((ms / 1000).toFixed(2))} s`;
}

/** `t=1.75 s: text` */
export function at(ms: number, text: string): string {
  return `t=${seconds(ms)}: ${text}`;
}
