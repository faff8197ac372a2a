import { execFileSync } from 'node:child_process';

/**
 * Why blackhole tests cannot run here, or `undefined` when they can (root and a working `iptables`).
 *
 * Under `CI=true` a missing prerequisite is an error, not a reason to skip: this throws, so the suite
 * fails loudly instead of silently passing without its blackhole tests.
 *
 * @throws Error under `CI=true` when not root or when `iptables` does not work
 */
export function iptablesUnavailableReason(): string | undefined {
  let reason: string | undefined;
  if (typeof process.getuid === 'function' && process.getuid() !== 0) {
    reason = `blackhole tests need root to change iptables rules (running as uid ${process.getuid()})`;
  } else {
    try {
      execFileSync('iptables', ['-w', '-L', 'INPUT', '-n'], { stdio: 'pipe' });
    } catch (err) {
      reason = `blackhole tests need a working iptables: ${(err as Error).message.split('\n')[0]}`;
    }
  }
  if (reason !== undefined && process.env.CI === 'true') {
    throw new Error(`${reason}. CI=true: refusing to skip the blackhole tests; run the tests as root with iptables installed.`);
  }
  return reason;
}

/** Runs iptables, waiting for the xtables lock; throws on failure. */
export function iptables(args: readonly string[]): void {
  // -w: wait for the xtables lock instead of failing when another process is changing rules.
  execFileSync('iptables', ['-w', ...args], { stdio: 'pipe' });
}

/** Runs iptables; false instead of an error when the command fails. */
export function iptablesOk(args: readonly string[]): boolean {
  try {
    iptables(args);
    return true;
  } catch {
    return false;
  }
}

/**
 * A private iptables chain, jumped to from `INPUT`, for blackholing loopback addresses in tests:
 * a DROP in `INPUT` silently discards every packet to the address (SYNs included), as a dead node does.
 *
 * Everything it creates is removed by {@link cleanup}, which also runs on process exit.
 *
 * @example
 * ```ts
 * const fw = new IptablesChain('RT-TEST-CORE');
 * fw.setup();
 * fw.drop('127.0.3.1');
 * // ...
 * fw.cleanup();
 * ```
 */
export class IptablesChain {
  private readonly rules = new Set<string>();
  private active = false;
  private readonly onExit = (): void => this.cleanup();

  /**
   * @param chain - the chain name, owned by the caller (nobody else may use it)
   */
  constructor(readonly chain: string) {}

  /**
   * Creates the chain (emptying a leftover one from a crashed run) and jumps to it from `INPUT`.
   * @throws Error when not root (under `CI=true`) or when iptables fails
   */
  setup(): void {
    const reason = iptablesUnavailableReason();
    if (reason !== undefined) throw new Error(reason);
    if (this.active) return;
    this.removeAll();
    iptables(['-N', this.chain]);
    iptables(['-I', 'INPUT', '-j', this.chain]);
    this.active = true;
    process.once('exit', this.onExit);
  }

  /** Silently drops every packet sent to `address` (TCP SYNs included). */
  drop(address: string): void {
    if (!this.active) throw new Error(`IptablesChain ${this.chain}: call setup() first`);
    if (this.rules.has(address)) return;
    iptables(['-A', this.chain, '-d', address, '-j', 'DROP']);
    this.rules.add(address);
  }

  /** Lets packets to `address` through again. */
  undrop(address: string): void {
    if (!this.rules.delete(address)) return;
    iptablesOk(['-D', this.chain, '-d', address, '-j', 'DROP']);
  }

  /** Removes every rule of the chain but keeps the chain and its jump. */
  flush(): void {
    if (!this.active) return;
    iptablesOk(['-F', this.chain]);
    this.rules.clear();
  }

  /** Addresses currently dropped. */
  get dropped(): readonly string[] {
    return [...this.rules];
  }

  /** Removes the jump from `INPUT`, the rules and the chain. Safe to call any number of times. */
  cleanup(): void {
    process.off('exit', this.onExit);
    this.removeAll();
    this.rules.clear();
    this.active = false;
  }

  private removeAll(): void {
    // Remove every jump (a crashed run may have left more than one), then the chain itself.
    for (let i = 0; i < 20 && iptablesOk(['-D', 'INPUT', '-j', this.chain]); i++);
    iptablesOk(['-F', this.chain]);
    iptablesOk(['-X', this.chain]);
  }
}
