/**
 * The gateway under test, as a separate process: spawn it (tsx or the built
 * dist/), wait for /readyz, sample its memory from /proc, stop it. Only ever
 * signals the process it spawned.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream, existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { createServer } from 'node:net';
import { join } from 'node:path';
import type { GatewayBuild } from './args.js';

/** A running gateway process. */
export interface Gateway {
  pid: number;
  /** `http://127.0.0.1:PORT` */
  url: string;
  /** Which build runs (`tsx` or `dist`). */
  build: 'tsx' | 'dist';
  logFile: string;
  /** Current VmRSS and lifetime VmHWM in bytes (undefined when /proc is missing). */
  memory(): { rss: number; hwm: number } | undefined;
  /** SIGTERM, wait up to 20 s (a CPU profile is written on exit), then SIGKILL. */
  stop(): Promise<void>;
}

/** Options of {@link startGateway}. */
export interface GatewayOptions {
  root: string;
  build: GatewayBuild;
  /** `--shards=` value. */
  shards: string;
  extraArgs: readonly string[];
  /** When set, run under --cpu-prof and write profiles there. */
  profileDir?: string | undefined;
  logFile: string;
}

function newestMtime(dir: string): number {
  let newest = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    newest = Math.max(newest, entry.isDirectory() ? newestMtime(path) : statSync(path).mtimeMs);
  }
  return newest;
}

/** `dist` when dist/src/main.js exists and is newer than every file in src/ (or when forced). */
export function chooseBuild(root: string, build: GatewayBuild): 'tsx' | 'dist' {
  const distMain = join(root, 'dist', 'src', 'main.js');
  if (build === 'dist') {
    if (!existsSync(distMain)) throw new Error(`--gateway=dist but ${distMain} does not exist; run npm run build first`);
    return 'dist';
  }
  if (build === 'tsx') return 'tsx';
  if (!existsSync(distMain)) return 'tsx';
  return statSync(distMain).mtimeMs >= newestMtime(join(root, 'src')) ? 'dist' : 'tsx';
}

/** A free loopback TCP port. */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const address = srv.address();
      const port = typeof address === 'object' && address !== null ? address.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

function readMemory(pid: number): { rss: number; hwm: number } | undefined {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const rss = /VmRSS:\s+(\d+) kB/.exec(status);
    const hwm = /VmHWM:\s+(\d+) kB/.exec(status);
    if (rss === null || hwm === null) return undefined;
    return { rss: Number(rss[1]) * 1024, hwm: Number(hwm[1]) * 1024 };
  } catch {
    return undefined;
  }
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Spawns `node [--cpu-prof] --import tsx src/main.ts` (or `node dist/src/main.js`)
 * with log level warn on a free port, and resolves once GET /readyz answers 200.
 * @throws Error quoting the gateway's log when it exits or is not ready within 60 s.
 */
export async function startGateway(options: GatewayOptions): Promise<Gateway> {
  const build = chooseBuild(options.root, options.build);
  const port = await freePort();
  const nodeArgs: string[] = [];
  if (options.profileDir !== undefined) {
    await mkdir(options.profileDir, { recursive: true });
    nodeArgs.push('--cpu-prof', `--cpu-prof-dir=${options.profileDir}`);
  }
  if (build === 'tsx') nodeArgs.push('--import', 'tsx', 'src/main.ts');
  else nodeArgs.push('dist/src/main.js');
  const args = [
    ...nodeArgs,
    `--shards=${options.shards}`,
    `--server_address=127.0.0.1:${port}`,
    '--log_level=warn',
    ...options.extraArgs,
  ];
  const log = createWriteStream(options.logFile);
  const child: ChildProcess = spawn(process.execPath, args, {
    cwd: options.root,
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, NODE_ENV: 'production' },
  });
  child.stdout?.pipe(log);
  child.stderr?.pipe(log);
  let exited: string | undefined;
  const exitPromise = new Promise<void>((resolve) => {
    child.once('exit', (code, signal) => {
      exited = signal !== null ? `killed by ${signal}` : `exit code ${String(code)}`;
      resolve();
    });
  });
  const pid = child.pid;
  if (pid === undefined) throw new Error('could not spawn the gateway');
  const url = `http://127.0.0.1:${port}`;

  const stop = async (): Promise<void> => {
    if (exited !== undefined) return;
    child.kill('SIGTERM');
    const killed = await Promise.race([exitPromise.then(() => true), sleep(20_000).then(() => false)]);
    if (!killed && exited === undefined) {
      child.kill('SIGKILL');
      await exitPromise;
    }
  };

  const deadline = Date.now() + 60_000;
  for (;;) {
    if (exited !== undefined) {
      throw new Error(`the gateway stopped during start-up (${exited}); its log (${options.logFile}):\n${tailOf(options.logFile)}`);
    }
    try {
      const response = await fetch(`${url}/readyz`);
      if (response.status === 200) break;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) {
      await stop();
      throw new Error(`the gateway was not ready within 60 s; its log (${options.logFile}):\n${tailOf(options.logFile)}`);
    }
    await sleep(100);
  }
  return { pid, url, build, logFile: options.logFile, memory: () => readMemory(pid), stop };
}

function tailOf(file: string): string {
  try {
    return readFileSync(file, 'utf8').trimEnd().split('\n').slice(-20).join('\n');
  } catch {
    return '(no log)';
  }
}

/** Samples a gateway's VmRSS every `intervalMs` while started; reports the peak. */
export class RssSampler {
  private timer: NodeJS.Timeout | undefined;
  private peakBytes = 0;
  private last = 0;

  constructor(
    private readonly gateway: Gateway,
    private readonly intervalMs = 100,
  ) {}

  /** Resets the peak and starts sampling. */
  start(): void {
    this.stop();
    this.peakBytes = 0;
    this.sample();
    this.timer = setInterval(() => this.sample(), this.intervalMs);
    this.timer.unref();
  }

  /** Stops sampling; returns the peak VmRSS seen since start(), in bytes. */
  stop(): number {
    if (this.timer !== undefined) {
      clearInterval(this.timer);
      this.timer = undefined;
      this.sample();
    }
    return this.peakBytes;
  }

  /** The most recent VmRSS sample, in bytes. */
  get lastBytes(): number {
    return this.last;
  }

  private sample(): void {
    const memory = this.gateway.memory();
    if (memory === undefined) return;
    this.last = memory.rss;
    this.peakBytes = Math.max(this.peakBytes, memory.rss);
  }
}
