/**
 * The lab's firewall rules (root only): blackholes, lost responses and a ClusterIP-like virtual
 * address, on the testbed's iptables chains. Every rule lives in chains named `RT-LAB` (filter
 * table, jumped to from INPUT; nat table, jumped to from OUTPUT), which are deleted when the lab
 * ends. Cleanup is synchronous so it can run from signal and exit handlers.
 * @module
 */
import { IptablesChain, iptablesProblem, NatChain } from '@ridethrough/testbed';

/** The lab's chain name, in both the filter and the nat table. */
export const labChain = 'RT-LAB';

/** Why firewall scenarios cannot run here, or `null` when they can. */
export function firewallUnavailable(): string | null {
  const problem = iptablesProblem();
  if (problem === null) return null;
  return problem.startsWith('needs root') ? 'needs root (it uses iptables); run the lab as root, e.g. `sudo npm run demo`' : problem;
}

/**
 * The lab's iptables rules. Create it with {@link LabFirewall.open}; {@link LabFirewall.close}
 * removes every chain and rule and restores `route_localnet` if it was changed.
 */
export class LabFirewall {
  private readonly filter = new IptablesChain(labChain);
  private readonly nat = new NatChain(labChain);

  private constructor() {}

  /** Creates the filter chain (flushing one left by a crashed run) and jumps to it from INPUT. */
  static open(): LabFirewall {
    const fw = new LabFirewall();
    fw.filter.setup();
    return fw;
  }

  /** Drops every packet sent to `address`, as when the node under a pod dies. */
  blackhole(address: string): Promise<void> {
    return this.filter.dropAsync(address);
  }

  /**
   * Drops what the pod at `address:port` sends back, except the SYN-ACK: connections open and
   * requests arrive and run, but no response (nor ACK) ever reaches the client.
   */
  dropResponses(address: string, port: number): Promise<void> {
    return this.filter.dropResponsesAsync(address, port);
  }

  /**
   * Makes `vip:port` a ClusterIP-like virtual address: each new connection is DNATed to one of the
   * backends at random, as kube-proxy's iptables mode does. Existing connections stay where
   * conntrack put them. Replaces any earlier rules for the virtual address.
   */
  balance(vip: string, port: number, backends: readonly string[]): Promise<void> {
    this.nat.setup();
    return this.nat.balanceAsync(vip, port, backends);
  }

  /**
   * Checks that connections to `vip:port` reach a backend, turning `route_localnet` on if this
   * kernel needs it (restored by {@link close}).
   * @throws Error saying what was tried when they do not
   */
  verifyBalance(vip: string, port: number): Promise<void> {
    return this.nat.verify(vip, port);
  }

  /** Removes every rule (between scenarios); the chains stay. */
  reset(): void {
    this.filter.flush();
    this.nat.flush();
  }

  /** Removes the chains and the jumps to them, and restores `route_localnet`. Safe to call twice; never throws. */
  close(): void {
    this.filter.cleanup();
    this.nat.cleanup();
  }
}
