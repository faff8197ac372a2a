/**
 * iptables for tests and the lab (root only): a private filter chain for blackholes and lost
 * responses, and the checks that tell whether it can work here. Rule changes come in a synchronous
 * form (tests, cleanup from exit handlers) and an asynchronous one (the lab adds rules while traffic
 * flows and must not stall its event loop).
 * @module
 */
import { execFile, execFileSync } from 'node:child_process';

/** Runs iptables, waiting up to 5 s for the xtables lock; returns stdout, throws on failure. */
export function iptables(args: readonly string[]): string {
  return execFileSync('iptables', ['-w', '5', ...args], { stdio: ['ignore', 'pipe', 'pipe'], encoding: 'utf8' });
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
 * Runs `iptables` (or `iptables-restore` with `input` on stdin) without blocking the event loop.
 * @throws Error naming the command and iptables' message when it fails
 */
export function iptablesAsync(args: readonly string[], input?: string, command: 'iptables' | 'iptables-restore' = 'iptables'): Promise<void> {
  return new Promise((resolve, reject) => {
    // iptables-restore takes its lock wait differently across versions; only iptables gets -w.
    const child = execFile(command, command === 'iptables' ? ['-w', '5', ...args] : [...args], { encoding: 'utf8' }, (err, _stdout, stderr) => {
      if (err) reject(new Error(`${command} ${args.join(' ')} failed: ${stderr.trim() || err.message}`));
      else resolve();
    });
    if (input !== undefined) child.stdin?.end(input);
  });
}

/**
 * Why iptables rules cannot be set here (not root, iptables missing or broken), in words meant for
 * a person, or `null` when they can.
 */
export function iptablesProblem(): string | null {
  if (typeof process.getuid !== 'function' || process.getuid() !== 0) {
    return `needs root to change iptables rules (running as uid ${typeof process.getuid === 'function' ? process.getuid() : 'unknown'})`;
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
 * Why blackhole tests cannot run here, or `undefined` when they can (root and a working `iptables`).
 *
 * Under `CI=true` a missing prerequisite is an error, not a reason to skip: this throws, so the suite
 * fails loudly instead of silently passing without its blackhole tests.
 *
 * @throws Error under `CI=true` when not root or when `iptables` does not work
 */
export function iptablesUnavailableReason(): string | undefined {
  const problem = iptablesProblem();
  if (problem === null) return undefined;
  const reason = `blackhole tests: ${problem}`;
  if (process.env.CI === 'true') {
    throw new Error(`${reason}. CI=true: refusing to skip the blackhole tests; run the tests as root with iptables installed.`);
  }
  return reason;
}

/**
 * A private iptables chain in the filter table, jumped to from `INPUT`, for blackholing loopback
 * addresses: a DROP in `INPUT` silently discards every packet to the address (SYNs included), as a
 * dead node does.
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
   * @throws Error when not root or when iptables fails (see {@link iptablesUnavailableReason})
   */
  setup(): void {
    const reason = iptablesUnavailableReason();
    if (reason !== undefined) throw new Error(reason);
    if (this.active) return;
    this.removeAll();
    iptables(['-N', this.chain]);
    iptables(['-I', 'INPUT', '1', '-j', this.chain]);
    this.active = true;
    process.once('exit', this.onExit);
  }

  /** Silently drops every packet sent to `address` (TCP SYNs included). */
  drop(address: string): void {
    this.ensureActive();
    if (this.rules.has(address)) return;
    iptables(['-A', this.chain, '-d', address, '-j', 'DROP']);
    this.rules.add(address);
  }

  /** {@link drop} without blocking the event loop. */
  async dropAsync(address: string): Promise<void> {
    this.ensureActive();
    if (this.rules.has(address)) return;
    await iptablesAsync(['-A', this.chain, '-d', address, '-j', 'DROP']);
    this.rules.add(address);
  }

  /**
   * Drops what `address:port` sends back, except the SYN-ACK: connections open and requests arrive
   * and run, but no response (nor ACK) ever reaches the client.
   */
  async dropResponsesAsync(address: string, port: number): Promise<void> {
    this.ensureActive();
    await iptablesAsync(['-A', this.chain, '-s', address, '-p', 'tcp', '--sport', String(port), '--tcp-flags', 'SYN', 'NONE', '-j', 'DROP']);
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

  /** Removes the jump from `INPUT`, the rules and the chain. Safe to call any number of times; never throws. */
  cleanup(): void {
    process.off('exit', this.onExit);
    this.removeAll();
    this.rules.clear();
    this.active = false;
  }

  private ensureActive(): void {
    if (!this.active) throw new Error(`IptablesChain ${this.chain}: call setup() first`);
  }

  private removeAll(): void {
    // Remove every jump (a crashed run may have left more than one), then the chain itself.
    for (let i = 0; i < 20 && iptablesOk(['-D', 'INPUT', '-j', this.chain]); i++);
    iptablesOk(['-F', this.chain]);
    iptablesOk(['-X', this.chain]);
  }
}
