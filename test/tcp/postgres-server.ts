import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { once } from 'node:events';
import { appendFileSync, chownSync, existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** The directory holding `postgres` and `initdb`, or undefined when PostgreSQL is not installed. */
export function postgresBinDir(): string | undefined {
  try {
    const bin = execFileSync('sh', ['-c', 'readlink -f "$(command -v postgres)"'], { stdio: 'pipe' }).toString().trim();
    if (bin && existsSync(bin)) return bin.replace(/\/postgres$/, '');
  } catch {
    // Not on PATH.
  }
  const root = '/usr/lib/postgresql';
  if (!existsSync(root)) return undefined;
  const dir = readdirSync(root)
    .map((v) => join(root, v, 'bin'))
    .find((d) => existsSync(join(d, 'postgres')));
  return dir;
}

function postgresIds(): { uid: number; gid: number } {
  return {
    uid: Number(execFileSync('id', ['-u', 'postgres'], { stdio: 'pipe' }).toString().trim()),
    gid: Number(execFileSync('id', ['-g', 'postgres'], { stdio: 'pipe' }).toString().trim()),
  };
}

/**
 * A throwaway PostgreSQL cluster (initdb into a temp dir, trust auth for loopback) whose server can be
 * stopped and started again on another loopback address: a database pod that moves. Runs as the
 * `postgres` user (the server refuses to run as root).
 */
export class PostgresCluster {
  private child: ChildProcess | undefined;

  private constructor(
    private readonly bin: string,
    readonly dir: string,
    private readonly ids: { uid: number; gid: number },
  ) {}

  /** Creates the data directory (initdb). */
  static create(bin: string): PostgresCluster {
    const ids = postgresIds();
    const dir = mkdtempSync(join(tmpdir(), 'rt-tcp-pg-'));
    chownSync(dir, ids.uid, ids.gid);
    execFileSync(join(bin, 'initdb'), ['-D', join(dir, 'data'), '--auth=trust', '-U', 'postgres', '--no-sync'], { stdio: 'pipe', uid: ids.uid, gid: ids.gid });
    appendFileSync(join(dir, 'data', 'pg_hba.conf'), '\nhost all all 127.0.0.0/8 trust\n');
    return new PostgresCluster(bin, dir, ids);
  }

  /** Starts the server listening on `address:port` only, and waits until it accepts connections. */
  async start(address: string, port: number): Promise<void> {
    if (this.child) throw new Error('already running');
    const child = spawn(
      join(this.bin, 'postgres'),
      [
        '-D',
        join(this.dir, 'data'),
        '-h',
        address,
        '-p',
        String(port),
        '-k',
        this.dir,
        '-c',
        'fsync=off',
        '-c',
        'max_connections=20',
        '-c',
        'shared_buffers=16MB',
      ],
      { stdio: ['ignore', 'pipe', 'pipe'], uid: this.ids.uid, gid: this.ids.gid },
    );
    this.child = child;
    // Never leave a server behind, even when the test process dies.
    const onExit = (): void => {
      child.kill('SIGQUIT');
    };
    process.once('exit', onExit);
    child.once('exit', () => process.off('exit', onExit));
    let output = '';
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`postgres on ${address}:${port} did not start: ${output}`)), 20_000);
      const onData = (chunk: Buffer): void => {
        output += chunk.toString();
        if (output.includes('ready to accept connections')) {
          clearTimeout(timer);
          child.stderr?.off('data', onData);
          child.stderr?.resume();
          resolve();
        }
      };
      child.stdout?.resume();
      child.stderr?.on('data', onData);
      child.once('exit', (code) => {
        clearTimeout(timer);
        reject(new Error(`postgres exited with ${code}: ${output}`));
      });
    });
  }

  /** Stops the server (fast shutdown: connections are cut) and waits for it to exit. */
  async stop(): Promise<void> {
    const child = this.child;
    this.child = undefined;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    const exited = once(child, 'exit');
    child.kill('SIGINT');
    await exited;
  }

  /** Stops the server and removes the data directory. */
  async destroy(): Promise<void> {
    await this.stop();
    rmSync(this.dir, { recursive: true, force: true });
  }
}
