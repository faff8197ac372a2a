/**
 * kube-proxy-style NAT for tests and the lab: a ClusterIP-like virtual address over loopback pods.
 * @module
 */
import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { iptables, iptablesAsync, iptablesOk } from './iptables.js';

const routeLocalnet = '/proc/sys/net/ipv4/conf/all/route_localnet';

/**
 * A ClusterIP-like virtual address made the way kube-proxy's iptables mode does it: DNAT rules in the
 * `nat` table, chosen with `-m statistic --mode random`, in a private chain jumped to from `nat OUTPUT`
 * (loopback traffic is locally generated, so it never passes PREROUTING). conntrack keeps an existing
 * connection on the backend it was first given; only new connections follow changed rules — as with a
 * real Service after a scale-up.
 *
 * Everything it creates is removed by {@link cleanup}, which also runs on process exit.
 */
export class NatChain {
  private active = false;
  private savedRouteLocalnet: string | undefined;
  private readonly onExit = (): void => this.cleanup();

  /**
   * @param chain - the nat chain name, owned by the caller (nobody else may use it)
   */
  constructor(readonly chain: string) {}

  /** Creates the chain (emptying a leftover one from a crashed run) and jumps to it from `nat OUTPUT`. */
  setup(): void {
    if (this.active) return;
    this.removeAll();
    iptables(['-t', 'nat', '-N', this.chain]);
    iptables(['-t', 'nat', '-I', 'OUTPUT', '-j', this.chain]);
    this.active = true;
    process.once('exit', this.onExit);
  }

  /**
   * Sends new TCP connections to `vip:port` to one of `backends` (same port), uniformly at random:
   * rule i matches with probability 1/(n-i), the last one always, as kube-proxy writes them.
   * Replaces whatever the chain held.
   */
  balance(vip: string, port: number, backends: readonly string[]): void {
    execFileSync('iptables-restore', ['-w', '--noflush'], { input: this.restoreInput(vip, port, backends), stdio: ['pipe', 'pipe', 'pipe'] });
  }

  /** {@link balance} without blocking the event loop (the lab rebalances while traffic flows). */
  balanceAsync(vip: string, port: number, backends: readonly string[]): Promise<void> {
    return iptablesAsync(['--noflush'], this.restoreInput(vip, port, backends), 'iptables-restore');
  }

  /** Removes every rule of the chain but keeps the chain and its jump. */
  flush(): void {
    if (this.active) iptablesOk(['-t', 'nat', '-F', this.chain]);
  }

  /** Whether {@link setup} has run (and {@link cleanup} not since). */
  get ready(): boolean {
    return this.active;
  }

  /**
   * The `iptables-restore` input that replaces the chain's rules with one DNAT rule per backend.
   * One transaction, as kube-proxy does: the chain is never seen empty. With rule-by-rule updates
   * (flush, then append) we saw established DNATed connections reset now and then: a connection
   * whose NAT binding is lost has its next packet re-NATed (or sent to the VIP itself) and answered
   * with a RST.
   */
  private restoreInput(vip: string, port: number, backends: readonly string[]): string {
    if (!this.active) throw new Error(`NatChain ${this.chain}: call setup() first`);
    if (backends.length === 0) throw new Error('NatChain.balance: no backends');
    const lines = ['*nat', `-F ${this.chain}`];
    backends.forEach((backend, i) => {
      const left = backends.length - i;
      const statistic = left > 1 ? ` -m statistic --mode random --probability ${(1 / left).toFixed(5)}` : '';
      lines.push(`-A ${this.chain} -d ${vip}/32 -p tcp -m tcp --dport ${port}${statistic} -j DNAT --to-destination ${backend}:${port}`);
    });
    lines.push('COMMIT', '');
    return lines.join('\n');
  }

  /**
   * Checks that a connection to `vip:port` really reaches a backend. Loopback DNAT in nat OUTPUT works
   * on current kernels as is; should it not, `route_localnet` is turned on (the old value is restored by
   * {@link cleanup}) and the check repeated. Throws with what was tried when it still does not work.
   */
  async verify(vip: string, port: number): Promise<void> {
    const first = await tryConnect(vip, port);
    if (first === undefined) return;
    this.savedRouteLocalnet = readFileSync(routeLocalnet, 'utf8').trim();
    writeFileSync(routeLocalnet, '1');
    const second = await tryConnect(vip, port);
    if (second === undefined) return;
    throw new Error(
      `loopback DNAT through nat OUTPUT does not work on this kernel: connecting to ${vip}:${port} failed with ${first} ` +
        `(route_localnet=${this.savedRouteLocalnet}) and with ${second} (route_localnet=1). Rules:\n${this.listRules()}`,
    );
  }

  /** The chain's rules, for messages. */
  listRules(): string {
    try {
      return iptables(['-t', 'nat', '-S', this.chain]);
    } catch (err) {
      return String(err);
    }
  }

  /** Removes the jump, the rules and the chain, and restores `route_localnet` if it was changed. Safe to call any number of times. */
  cleanup(): void {
    process.off('exit', this.onExit);
    this.removeAll();
    this.active = false;
    if (this.savedRouteLocalnet !== undefined) {
      try {
        writeFileSync(routeLocalnet, this.savedRouteLocalnet);
      } catch {
        // Nothing more to do on exit.
      }
      this.savedRouteLocalnet = undefined;
    }
  }

  private removeAll(): void {
    for (let i = 0; i < 20 && iptablesOk(['-t', 'nat', '-D', 'OUTPUT', '-j', this.chain]); i++);
    iptablesOk(['-t', 'nat', '-F', this.chain]);
    iptablesOk(['-t', 'nat', '-X', this.chain]);
  }
}

/** Connects to `host:port` and closes at once; undefined on success, else the error code. */
function tryConnect(host: string, port: number): Promise<string | undefined> {
  return new Promise((resolve) => {
    const socket = net.connect({ host, port });
    const timer = setTimeout(() => {
      socket.destroy();
      resolve('timeout after 1000 ms');
    }, 1_000);
    socket.once('connect', () => {
      clearTimeout(timer);
      socket.destroy();
      resolve(undefined);
    });
    socket.once('error', (err: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      resolve(err.code ?? err.message);
    });
  });
}
