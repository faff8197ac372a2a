import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Deployment } from 'kubernetes-models/apps/v1/Deployment';
import { Namespace } from 'kubernetes-models/v1/Namespace';
import { Service } from 'kubernetes-models/v1/Service';
import { PodDisruptionBudget } from 'kubernetes-models/policy/v1/PodDisruptionBudget';
import { Role } from 'kubernetes-models/rbac.authorization.k8s.io/v1/Role';
import { RoleBinding } from 'kubernetes-models/rbac.authorization.k8s.io/v1/RoleBinding';
import { ServiceAccount } from 'kubernetes-models/v1/ServiceAccount';
import { describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';

// The example manifests are checked in two ways:
// 1. Schema: each object is validated against the Kubernetes OpenAPI schema of its kind, as shipped
//    by the `kubernetes-models` package (generated from the upstream OpenAPI spec, validated with ajv,
//    offline). This catches missing required fields and wrong types. It does not reject unknown
//    fields (the upstream schemas allow them), so:
// 2. Semantics: the fields the example relies on are checked by hand below (probes, preStop, grace
//    period, selectors that match, both Service paths, budgets).

const dir = join(import.meta.dirname, '..', '..', 'examples', 'k8s');

interface K8sObject {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string> };
  spec?: Record<string, unknown>;
  [key: string]: unknown;
}

const validators: Record<string, (o: K8sObject) => void> = {
  'v1/Namespace': (o) => new Namespace(o as never).validate(),
  'v1/Service': (o) => new Service(o as never).validate(),
  'apps/v1/Deployment': (o) => new Deployment(o as never).validate(),
  'policy/v1/PodDisruptionBudget': (o) => new PodDisruptionBudget(o as never).validate(),
  'v1/ServiceAccount': (o) => new ServiceAccount(o as never).validate(),
  'rbac.authorization.k8s.io/v1/Role': (o) => new Role(o as never).validate(),
  'rbac.authorization.k8s.io/v1/RoleBinding': (o) => new RoleBinding(o as never).validate(),
};

function load(): { file: string; object: K8sObject }[] {
  const out: { file: string; object: K8sObject }[] = [];
  for (const file of readdirSync(dir)
    .filter((f) => f.endsWith('.yaml'))
    .sort()) {
    const docs = parseAllDocuments(readFileSync(join(dir, file), 'utf8'));
    if (!Array.isArray(docs)) throw new Error(`${file}: empty`);
    for (const doc of docs) {
      if (doc.errors.length) throw new Error(`${file}: ${doc.errors.map((e) => e.message).join('; ')}`);
      const object = doc.toJS() as K8sObject | null;
      if (object) out.push({ file, object });
    }
  }
  return out;
}

const objects = load();
const ofKind = (kind: string): K8sObject[] => objects.filter((o) => o.object.kind === kind).map((o) => o.object);

interface Container {
  name: string;
  image: string;
  ports?: { name?: string; containerPort: number }[];
  readinessProbe?: { httpGet?: { path: string; port: string | number }; exec?: unknown; tcpSocket?: unknown };
  livenessProbe?: { httpGet?: { path: string; port: string | number }; tcpSocket?: unknown };
  lifecycle?: { preStop?: { exec?: { command: string[] }; sleep?: { seconds: number } } };
  env?: { name: string; value?: string }[];
}
interface PodTemplate {
  metadata: { labels: Record<string, string> };
  spec: { terminationGracePeriodSeconds?: number; containers: Container[] };
}
const template = (d: K8sObject): PodTemplate => (d.spec as { template: PodTemplate }).template;
const matches = (selector: Record<string, string>, labels: Record<string, string>): boolean =>
  Object.keys(selector).length > 0 && Object.entries(selector).every(([k, v]) => labels[k] === v);

describe('examples/k8s manifests', () => {
  it('parse, and every object is valid for the schema of its kind', () => {
    expect(objects.length).toBeGreaterThan(10);
    for (const { file, object } of objects) {
      const validate = validators[`${object.apiVersion}/${object.kind}`];
      expect(validate, `${file}: unexpected kind ${object.apiVersion}/${object.kind}`).toBeDefined();
      expect(() => validate!(object), `${file}: ${object.kind} ${object.metadata?.name}`).not.toThrow();
      expect(object.metadata.name, `${file}: metadata.name`).toMatch(/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/);
      if (object.kind !== 'Namespace') expect(object.metadata.namespace, `${file}: ${object.metadata.name} namespace`).toBe('shop');
    }
  });

  it('the schema check does reject a broken object (so the check above means something)', () => {
    const broken = structuredClone(ofKind('Deployment')[0]!);
    delete (broken.spec as Record<string, unknown>).selector;
    expect(() => validators['apps/v1/Deployment']!(broken)).toThrow(/selector/);
    const wrongType = structuredClone(ofKind('Deployment')[0]!);
    (wrongType.spec as Record<string, unknown>).replicas = 'two';
    expect(() => validators['apps/v1/Deployment']!(wrongType)).toThrow(/integer/);
  });

  it('has the shop: a Deployment for each service and Redis', () => {
    expect(
      ofKind('Deployment')
        .map((d) => d.metadata.name)
        .sort(),
    ).toEqual(['cart', 'catalog', 'inventory', 'redis', 'storefront']);
    expect(ofKind('Namespace').map((n) => n.metadata.name)).toEqual(['shop']);
  });

  it('each Deployment selects its own pods, and shuts down gracefully', () => {
    for (const d of ofKind('Deployment')) {
      const name = d.metadata.name;
      const t = template(d);
      const selector = (d.spec as { selector: { matchLabels: Record<string, string> } }).selector.matchLabels;
      expect(matches(selector, t.metadata.labels), `${name}: selector matches template labels`).toBe(true);
      const grace = t.spec.terminationGracePeriodSeconds;
      expect(grace, `${name}: terminationGracePeriodSeconds`).toBeGreaterThan(0);
      for (const c of t.spec.containers) {
        expect(c.readinessProbe, `${name}/${c.name}: readinessProbe`).toBeDefined();
        expect(c.livenessProbe, `${name}/${c.name}: livenessProbe`).toBeDefined();
        const portNames = new Set((c.ports ?? []).map((p) => p.name));
        for (const probe of [c.readinessProbe?.httpGet, c.livenessProbe?.httpGet]) {
          if (probe && typeof probe.port === 'string')
            expect(portNames.has(probe.port), `${name}: probe port ${probe.port} is a named container port`).toBe(true);
        }
      }
    }
  });

  it('the ridethrough services probe /readyz and /healthz on 8080 and sleep in preStop within the grace period', () => {
    for (const d of ofKind('Deployment').filter((x) => x.metadata.name !== 'redis')) {
      const name = d.metadata.name;
      const t = template(d);
      const [c] = t.spec.containers;
      expect(c!.readinessProbe?.httpGet?.path, `${name}: readiness path`).toBe('/readyz');
      expect(c!.livenessProbe?.httpGet?.path, `${name}: liveness path`).toBe('/healthz');
      expect(c!.ports?.find((p) => p.name === 'http')?.containerPort, `${name}: http port`).toBe(8080);
      const preStop = c!.lifecycle?.preStop;
      const sleepSeconds = preStop?.sleep?.seconds ?? (preStop?.exec?.command[0] === 'sleep' ? Number(preStop.exec.command[1]) : Number.NaN);
      expect(sleepSeconds, `${name}: preStop sleep`).toBeGreaterThanOrEqual(5);
      const shutdownTimeout = Number(c!.env?.find((e) => e.name === 'SHUTDOWN_TIMEOUT_MS')?.value ?? 20_000) / 1000;
      expect(sleepSeconds + shutdownTimeout, `${name}: preStop + drain fit in the grace period`).toBeLessThanOrEqual(
        t.spec.terminationGracePeriodSeconds ?? 30,
      );
      expect(c!.image, `${name}: image`).toBe(`ridethrough-shop/${name}:dev`);
    }
  });

  it('every Service selects the pods of a Deployment and targets a named port they expose', () => {
    for (const s of ofKind('Service')) {
      const spec = s.spec as { selector: Record<string, string>; ports: { port: number; targetPort: string | number }[] };
      const deployment = ofKind('Deployment').find((d) => matches(spec.selector, template(d).metadata.labels));
      expect(deployment, `Service ${s.metadata.name}: selects a Deployment's pods`).toBeDefined();
      const ports = template(deployment!).spec.containers.flatMap((c) => c.ports ?? []);
      for (const p of spec.ports) {
        const ok = typeof p.targetPort === 'string' ? ports.some((cp) => cp.name === p.targetPort) : ports.some((cp) => cp.containerPort === p.targetPort);
        expect(ok, `Service ${s.metadata.name}: targetPort ${p.targetPort}`).toBe(true);
      }
    }
  });

  it('shows both paths: a ClusterIP Service and a headless Service over the inventory pods', () => {
    const services = ofKind('Service');
    const inventory = services.filter((s) => (s.spec as { selector: Record<string, string> }).selector['app.kubernetes.io/name'] === 'inventory');
    const clusterIp = inventory.find((s) => (s.spec as { clusterIP?: string }).clusterIP === undefined);
    const headless = inventory.find((s) => (s.spec as { clusterIP?: string }).clusterIP === 'None');
    expect(clusterIp?.metadata.name).toBe('inventory');
    expect(headless?.metadata.name).toBe('inventory-headless');
    const storefront = template(ofKind('Deployment').find((d) => d.metadata.name === 'storefront')!).spec.containers[0]!;
    const env = Object.fromEntries((storefront.env ?? []).map((e) => [e.name, e.value]));
    expect(env.INVENTORY_URL).toBe('http://inventory-headless:8080');
    expect(env.CATALOG_URL).toBe('http://catalog:8080');
  });

  it('the EndpointSlice resolver: storefront can switch it on, and its service account may get/list/watch EndpointSlices', () => {
    const d = ofKind('Deployment').find((x) => x.metadata.name === 'storefront')!;
    const t = template(d) as PodTemplate & { spec: { serviceAccountName?: string } };
    const env = Object.fromEntries((t.spec.containers[0]!.env ?? []).map((e) => [e.name, e.value]));
    expect(env.KUBERNETES_ENDPOINTS).toBe('on');
    const account = t.spec.serviceAccountName;
    expect(ofKind('ServiceAccount').map((a) => a.metadata.name)).toContain(account);
    const binding = ofKind('RoleBinding').find((b) =>
      (b.subjects as { kind: string; name: string }[]).some((s) => s.kind === 'ServiceAccount' && s.name === account),
    );
    expect(binding, 'a RoleBinding for the storefront account').toBeDefined();
    const roleRef = binding!.roleRef as { kind: string; name: string };
    const role = ofKind('Role').find((r) => roleRef.kind === 'Role' && r.metadata.name === roleRef.name);
    const rules = (role?.rules ?? []) as { apiGroups: string[]; resources: string[]; verbs: string[] }[];
    expect(
      rules.some(
        (r) => r.apiGroups.includes('discovery.k8s.io') && r.resources.includes('endpointslices') && ['get', 'list', 'watch'].every((v) => r.verbs.includes(v)),
      ),
    ).toBe(true);
    // Least privilege: nothing else.
    expect(rules.flatMap((r) => r.resources)).toEqual(['endpointslices']);
    expect(rules.flatMap((r) => r.verbs).sort()).toEqual(['get', 'list', 'watch']);
  });

  it('every multi-replica Deployment has a PodDisruptionBudget that selects its pods', () => {
    const budgets = ofKind('PodDisruptionBudget');
    for (const d of ofKind('Deployment').filter((x) => ((x.spec as { replicas?: number }).replicas ?? 1) > 1)) {
      const labels = template(d).metadata.labels;
      const pdb = budgets.find((b) => matches((b.spec as { selector: { matchLabels: Record<string, string> } }).selector.matchLabels, labels));
      expect(pdb, `${d.metadata.name}: PodDisruptionBudget`).toBeDefined();
      const spec = pdb!.spec as { maxUnavailable?: number; minAvailable?: number };
      expect(spec.maxUnavailable ?? 0, `${d.metadata.name}: budget lets a drain proceed`).toBeGreaterThanOrEqual(1);
    }
  });

  it('the Dockerfile builds each service from a build arg', () => {
    const dockerfile = readFileSync(join(dir, 'Dockerfile'), 'utf8');
    expect(dockerfile).toMatch(/^ARG SERVICE$/m);
    expect(dockerfile).toMatch(/FROM node:\$\{NODE_VERSION\}-slim AS build/);
    expect(dockerfile).toMatch(/exec node/);
    for (const d of ofKind('Deployment').filter((x) => x.metadata.name !== 'redis')) {
      expect(readdirSync(join(dir, '..', 'shop')), `examples/shop/${d.metadata.name}.ts`).toContain(`${d.metadata.name}.ts`);
    }
  });
});
