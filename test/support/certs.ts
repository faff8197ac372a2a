import { execFileSync } from 'node:child_process';
import { isIP } from 'node:net';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** A self-signed certificate made by openssl. */
export interface TestCert {
  readonly key: Buffer;
  readonly cert: Buffer;
}

/** Makes a self-signed certificate for `name`, a host name or an IP address (CN and subjectAltName), with openssl, in a temp dir removed at once. */
export function makeCert(name: string): TestCert {
  const dir = mkdtempSync(join(tmpdir(), 'rt-cert-'));
  try {
    const keyPath = join(dir, 'key.pem');
    const certPath = join(dir, 'cert.pem');
    execFileSync(
      'openssl',
      [
        'req',
        '-x509',
        '-newkey',
        'rsa:2048',
        '-nodes',
        '-keyout',
        keyPath,
        '-out',
        certPath,
        '-subj',
        `/CN=${name}`,
        '-addext',
        `subjectAltName=${isIP(name) ? 'IP' : 'DNS'}:${name}`,
        '-days',
        '1',
      ],
      { stdio: 'pipe' },
    );
    return { key: readFileSync(keyPath), cert: readFileSync(certPath) };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
