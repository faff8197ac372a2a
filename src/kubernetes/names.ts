import { isIP } from 'node:net';

/** A Service, as a host name names it. */
export interface ServiceName {
  readonly namespace: string;
  readonly service: string;
}

/** RFC 1123 label, as Kubernetes namespaces are; Service names are RFC 1035 labels (start with a letter). */
const label = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;

/**
 * The Service a host name names: `svc.ns.svc.<clusterDomain>`, `svc.ns.svc`, `svc.ns`, or `svc` (in
 * `defaultNamespace`), or undefined for any other name (IP literals, longer names, `localhost`).
 * @internal
 */
export function serviceOf(hostname: string, clusterDomain: string, defaultNamespace: string | undefined): ServiceName | undefined {
  const h = hostname.toLowerCase().replace(/\.$/, '');
  if (h === '' || h === 'localhost' || isIP(h) !== 0) return undefined;
  const suffix = `.svc.${clusterDomain}`;
  let labels: string[];
  if (h.endsWith(suffix)) {
    labels = h.slice(0, -suffix.length).split('.');
    if (labels.length !== 2) return undefined;
  } else {
    labels = h.split('.');
    if (labels.length === 3 && labels[2] === 'svc') labels.pop();
    if (labels.length > 2) return undefined;
  }
  const [service, namespace = defaultNamespace] = labels;
  if (service === undefined || namespace === undefined) return undefined;
  if (!label.test(service) || !/^[a-z]/.test(service) || !label.test(namespace)) return undefined;
  return { service, namespace };
}
