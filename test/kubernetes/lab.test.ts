/**
 * The lab's Kubernetes scenarios (packages/lab): a move the API publishes 0.2 s after it happens while
 * DNS lags 5 s, and a rolling restart whose terminating pods are drained before they stop. The lab
 * binds its own fixed addresses (DNS 127.0.100.53:10053, API double 127.0.100.10, pods 127.0.120-121.x);
 * a concurrent lab run elsewhere makes this fail with "in use": run it again.
 */
import { runLab } from '@ridethrough/lab';
import { expect, it } from 'vitest';

it('k8s-move: with the resolver the move costs ~0.2 s; DNS-only ridethrough waits for DNS', async () => {
  const result = await runLab({ scenarios: ['k8s-move'], clients: ['ridethrough', 'ridethrough-k8s'], rate: 20, duration: 8 });
  const [s] = result.scenarios;
  expect(s!.status).toBe('ran');
  const k8s = s!.clients.find((c) => c.client === 'ridethrough-k8s')!;
  const dns = s!.clients.find((c) => c.client === 'ridethrough')!;
  expect(k8s.failed).toBe(0);
  expect(dns.failed).toBe(0);
  expect(k8s.latency!.max).toBeLessThan(1_000);
  expect(dns.latency!.max).toBeGreaterThan(3_000);
});

it('k8s-rolling-restart: terminating endpoints are drained before their pods stop, no retry needed', async () => {
  const result = await runLab({ scenarios: ['k8s-rolling-restart'], clients: ['ridethrough', 'ridethrough-k8s'], rate: 30 });
  const [s] = result.scenarios;
  expect(s!.status).toBe('ran');
  const k8s = s!.clients.find((c) => c.client === 'ridethrough-k8s')!;
  expect(k8s.failed).toBe(0);
  expect(k8s.retries).toBe(0);
  expect(s!.clients.find((c) => c.client === 'ridethrough')!.failed).toBe(0);
});
