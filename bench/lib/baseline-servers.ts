/**
 * The HTTP baselines users compare the gateway with, each as a separate
 * process like the gateway: `passthrough` (bench/baselines/passthrough.ts)
 * and `bare-apollo` (bench/baselines/bare-apollo.ts). They run the way the
 * gateway runs: compiled (`dist/bench/baselines/*.js`, built with
 * bench/baselines/tsconfig.json when missing or older than its source) when
 * the gateway runs from dist/, else under tsx. Only ever signals the process
 * it spawned.
 */
import { spawn, spawnSync } from 'node:child_process';
import { createWriteStream, existsSync, statSync } from 'node:fs';
import { join } from 'node:path';
import type { DirectTarget } from './load.js';

/** Which baseline server. */
export type BaselineServerName = 'passthrough' | 'bare-apollo';

/** A running baseline server. */
export interface BaselineServer {
  name: BaselineServerName;
  pid: number;
  /** `http://127.0.0.1:PORT` */
  url: string;
  /** SIGTERM, wait up to 10 s, then SIGKILL. */
  stop(): Promise<void>;
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** Compiles bench/baselines/ into dist/bench/baselines/ when a compiled file is missing or older than its source. */
function ensureCompiled(root: string, name: BaselineServerName): string {
  const source = join(root, 'bench', 'baselines', `${name}.ts`);
  const compiled = join(root, 'dist', 'bench', 'baselines', `${name}.js`);
  if (existsSync(compiled) && statSync(compiled).mtimeMs >= statSync(source).mtimeMs) return compiled;
  const tsc = join(root, 'node_modules', 'typescript', 'bin', 'tsc');
  const result = spawnSync(process.execPath, [tsc, '-p', join(root, 'bench', 'baselines', 'tsconfig.json')], { cwd: root, encoding: 'utf8' });
  if (result.status !== 0 || !existsSync(compiled)) {
    throw new Error(`could not compile bench/baselines (tsc exit ${String(result.status)}): ${(result.stdout + result.stderr).slice(0, 2000)}`);
  }
  return compiled;
}

/**
 * Starts baseline server `name` against `target` (a mysql2 pool of 4
 * connections there), compiled or under tsx as `build` says, and resolves
 * once it prints `listening <port>`.
 * @throws Error when it exits or does not listen within 30 s.
 */
export async function startBaselineServer(
  root: string,
  name: BaselineServerName,
  build: 'tsx' | 'dist',
  target: DirectTarget,
  logFile: string,
): Promise<BaselineServer> {
  const args = build === 'dist' ? [ensureCompiled(root, name)] : ['--import', 'tsx', join('bench', 'baselines', `${name}.ts`)];
  const child = spawn(process.execPath, args, {
    cwd: root,
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, NODE_ENV: 'production', BENCH_TARGET: JSON.stringify(target) },
  });
  const log = createWriteStream(logFile);
  child.stderr?.pipe(log);
  const pid = child.pid;
  if (pid === undefined) throw new Error(`could not spawn the ${name} baseline`);
  let exited: string | undefined;
  const exitPromise = new Promise<void>((resolve) => {
    child.once('exit', (code, signal) => {
      exited = signal !== null ? `killed by ${signal}` : `exit code ${String(code)}`;
      resolve();
    });
  });
  const stop = async (): Promise<void> => {
    if (exited !== undefined) return;
    child.kill('SIGTERM');
    const done = await Promise.race([exitPromise.then(() => true), sleep(10_000).then(() => false)]);
    if (!done && exited === undefined) {
      child.kill('SIGKILL');
      await exitPromise;
    }
  };
  const port = await new Promise<number>((resolve, reject) => {
    let text = '';
    const timer = setTimeout(() => reject(new Error(`the ${name} baseline did not listen within 30 s (log ${logFile})`)), 30_000);
    child.stdout?.on('data', (chunk: Buffer) => {
      text += chunk.toString('utf8');
      const match = /listening (\d+)/.exec(text);
      if (match !== null) {
        clearTimeout(timer);
        resolve(Number(match[1]));
      }
    });
    void exitPromise.then(() => {
      clearTimeout(timer);
      reject(new Error(`the ${name} baseline stopped during start-up (${exited ?? '?'}); log ${logFile}`));
    });
  }).catch(async (error: unknown) => {
    await stop();
    throw error;
  });
  child.stdout?.resume();
  return { name, pid, url: `http://127.0.0.1:${port}`, stop };
}
