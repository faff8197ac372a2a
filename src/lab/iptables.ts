/**
 * The lab's firewall rules (root only): blackholes, lost responses and a ClusterIP-like virtual
 * address. Every rule lives in chains named `RT-LAB` (filter table, jumped to from INPUT; nat table,
 * jumped to from OUTPUT), which are deleted when the lab ends. Calls are synchronous so cleanup can
 * run from signal and exit handlers.
 * @module
 */
import { execFile, execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';

/** The lab's chain name, in both the filter and the nat table. */
export const labChain = 'RT-LAB';

const routeLocalnetPath = '/proc/sys/net/ipv4/conf/all/route_localnet';

function iptables(args: readonly string[]): string {
  return execFileSync('iptables', ['-w', '5', ...args], { stdio: ['ignore', 'pipe', 'pipe'], encoding: 'utf8' });
}

/** Runs iptables without blocking the event loop (rules added while traffic flows). */
function iptablesAsync(args: readonly string[], input?: string, command = 'iptables'): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = execFile(command, command === 'iptables' ? ['-w', '5', ...args] : [...args], { encoding: 'utf8' }, (err, _stdout, stderr) => {
      if (err) reject(new Error(`${command} ${args.join(' ')} failed: ${stderr.trim() || err.message}`));
      else resolve();
    });
    if (input !== undefined) child.stdin?.end(input);
  });
}

function succeeds(args: readonly string[]): boolean {
  try {
    iptables(args);
    return true;
  } catch {
    return false;
  }
}

/** Why firewall scenarios cannot run here, or `null` when they can. */
export function firewallUnavailable(): string | null {
  if (typeof process.getuid !== 'function' || process.getuid() !== 0) {
    return 'needs root (it uses iptables); run the lab as root, e.g. `sudo npx ridethrough lab`';
  }
  try {
    iptables(['-S', 'INPUT']);
  } catch (err) {
    const e = err as NodeJS.ErrnoException & { stderr?: string };
    if (e.code === 'ENOENT') return 'needs iptables, which is not installed (Debian/Ubuntu: apt-get install iptables)';
    return `iptables does not work here: ${(e.stderr ?? e.message).trim().split('\n')[0]}`;
  }
  return null;
}

/**
 * The lab's iptables rules. Create it with {@link LabFirewall.open}; {@link LabFirewall.close}
 * removes every chain and rule and restores `route_localnet` if it was changed.
 */
export class LabFirewall {
  private natReady = false;
  private closed = false;
  private savedLocalnet: string | undefined;

  private constructor() {}

  /** Creates the filter chain (flushing one left by a crashed run) and jumps to it from INPUT. */
  static open(): LabFirewall {
    const fw = new LabFirewall();
    if (!succeeds(['-N', labChain])) iptables(['-F', labChain]);
    if (!succeeds(['-C', 'INPUT', '-j', labChain])) iptables(['-I', 'INPUT', '1', '-j', labChain]);
    return fw;
  }

  /** Drops every packet sent to `address`, as when the node under a pod dies. */
  blackhole(address: string): Promise<void> {
    return iptablesAsync(['-A', labChain, '-d', address, '-j', 'DROP']);
  }

  /**
   * Drops what the pod at `address:port` sends back, except the SYN-ACK: connections open and
   * requests arrive and run, but no response (nor ACK) ever reaches the client.
   */
  dropResponses(address: string, port: number): Promise<void> {
    return iptablesAsync(['-A', labChain, '-s', address, '-p', 'tcp', '--sport', String(port), '--tcp-flags', 'SYN', 'NONE', '-j', 'DROP']);
  }

  /**
   * Makes `vip:port` a ClusterIP-like virtual address: each new connection is DNATed to one of the
   * backends at random (kube-proxy's iptables mode: `-m statistic --mode random` with probabilities
   * 1/n, 1/(n-1), ..., 1). Existing connections stay where conntrack put them. Replaces any earlier
   * rules for the virtual address.
   */
  async balance(vip: string, port: number, backends: readonly string[]): Promise<void> {
    this.ensureNat();
    // One iptables-restore transaction, as kube-proxy does: the old rules are replaced atomically.
    const lines = ['*nat', `-F ${labChain}`];
    backends.forEach((backend, i) => {
      const left = backends.length - i;
      const statistic = left > 1 ? ` -m statistic --mode random --probability ${(1 / left).toFixed(5)}` : '';
      lines.push(`-A ${labChain} -d ${vip}/32 -p tcp -m tcp --dport ${port}${statistic} -j DNAT --to-destination ${backend}:${port}`);
    });
    lines.push('COMMIT', '');
    await iptablesAsync(['--noflush'], lines.join('\n'), 'iptables-restore');
  }

  /**
   * Sets `net.ipv4.conf.all.route_localnet=1` (some kernels need it to DNAT between loopback
   * addresses); the previous value is restored by {@link close}. Returns false when it cannot be set.
   */
  enableRouteLocalnet(): boolean {
    try {
      const current = readFileSync(routeLocalnetPath, 'utf8').trim();
      if (current === '1') return true;
      writeFileSync(routeLocalnetPath, '1');
      this.savedLocalnet ??= current;
      return true;
    } catch {
      return false;
    }
  }

  /** Removes every rule (between scenarios); the chains stay. */
  reset(): void {
    if (this.closed) return;
    iptables(['-F', labChain]);
    if (this.natReady) iptables(['-t', 'nat', '-F', labChain]);
  }

  /** Removes the chains and the jumps to them, and restores `route_localnet`. Safe to call twice; never throws. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    for (const table of ['filter', 'nat'] as const) {
      const hook = table === 'filter' ? 'INPUT' : 'OUTPUT';
      for (let i = 0; i < 10 && succeeds(['-t', table, '-D', hook, '-j', labChain]); i++);
      succeeds(['-t', table, '-F', labChain]);
      succeeds(['-t', table, '-X', labChain]);
    }
    if (this.savedLocalnet !== undefined) {
      try {
        writeFileSync(routeLocalnetPath, this.savedLocalnet);
      } catch {
        // Nothing more can be done; the value is reported nowhere else.
      }
      this.savedLocalnet = undefined;
    }
  }

  private ensureNat(): void {
    if (this.natReady) return;
    if (!succeeds(['-t', 'nat', '-N', labChain])) iptables(['-t', 'nat', '-F', labChain]);
    if (!succeeds(['-t', 'nat', '-C', 'OUTPUT', '-j', labChain])) iptables(['-t', 'nat', '-I', 'OUTPUT', '1', '-j', labChain]);
    this.natReady = true;
  }
}
