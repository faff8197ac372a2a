import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';

/** A real redis-server process bound to one loopback address, for driver tests. */
export class RedisServer {
  private constructor(
    readonly child: ChildProcess,
    readonly address: string,
    readonly port: number,
  ) {}

  /**
   * Starts `redis-server` on `address:port` (no persistence, foreground) and waits until it accepts
   * connections.
   */
  static async start(address: string, port: number): Promise<RedisServer> {
    const child = spawn(
      'redis-server',
      ['--port', String(port), '--bind', address, '--save', '', '--appendonly', 'no', '--daemonize', 'no', '--loglevel', 'notice'],
      {
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    const server = new RedisServer(child, address, port);
    // Never leave a server behind, even when the test process dies.
    const onExit = (): void => {
      child.kill('SIGKILL');
    };
    process.once('exit', onExit);
    child.once('exit', () => process.off('exit', onExit));
    let output = '';
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`redis-server on ${address}:${port} did not start: ${output}`)), 10_000);
      const onData = (chunk: Buffer): void => {
        output += chunk.toString();
        if (output.includes('Ready to accept connections')) {
          clearTimeout(timer);
          child.stdout?.off('data', onData);
          child.stdout?.resume();
          child.stderr?.resume();
          resolve();
        }
      };
      child.stdout?.on('data', onData);
      child.once('exit', (code) => {
        clearTimeout(timer);
        reject(new Error(`redis-server exited with ${code}: ${output}`));
      });
    });
    return server;
  }

  /** Kills the process (SIGKILL, as when a pod dies) and waits for it to exit. */
  async kill(): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    const exited = once(this.child, 'exit');
    this.child.kill('SIGKILL');
    await exited;
  }
}
