/**
 * `npm run playground` as a newcomer runs it: it refuses to start when the
 * gateway's port is taken (naming the port and the process holding it), stops
 * by pid what a killed earlier run recorded in pids.json (and only processes
 * that still run the recorded command line), and SIGTERM sent to the npm
 * process stops the gateway and every shard and removes the data.
 *
 * Each run gets its own PLAYGROUND_DIR and gateway port, so the tests neither
 * touch a developer's .playground/ nor the shared test shards.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, readFileSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { commandLineOf, isStillRunning, type RecordedProcess } from '../../scripts/lib/processes.js';
import { freePort } from './helpers/gateway.js';

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function playgroundDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'databalancer-playground-test-'));
  cleanups.push(() => rm(dir, { recursive: true, force: true }));
  return join(dir, 'pg');
}

interface Run {
  child: ChildProcess;
  output: () => string;
  exit: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/** Starts the playground through npm, as `npm run playground -- <args>`. */
function runPlayground(dir: string, args: string[]): Run {
  const env: NodeJS.ProcessEnv = { ...process.env, PLAYGROUND_DIR: dir, LOG_LEVEL: 'warn' };
  const child = spawn('npm', ['run', '--silent', 'playground', '--', ...args], { cwd: process.cwd(), env, stdio: ['ignore', 'pipe', 'pipe'] });
  let text = '';
  child.stdout?.on('data', (chunk: Buffer) => (text += chunk.toString()));
  child.stderr?.on('data', (chunk: Buffer) => (text += chunk.toString()));
  const exit = once(child, 'exit').then(([code, signal]) => ({ code: code as number | null, signal: signal as NodeJS.Signals | null }));
  cleanups.push(async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGTERM');
      await exit;
    }
  });
  return { child, output: () => text, exit };
}

async function waitFor(run: Run, pattern: RegExp): Promise<void> {
  while (!pattern.test(run.output())) {
    if (run.child.exitCode !== null || run.child.signalCode !== null) throw new Error(`playground exited before ${pattern}:\n${run.output()}`);
    await new Promise((done) => setTimeout(done, 100));
  }
}

/** A process that stays until killed; `listenOn` makes it hold a port, like an orphaned gateway. */
async function leftover(listenOn?: number): Promise<{ child: ChildProcess; recorded: RecordedProcess }> {
  const code =
    listenOn === undefined
      ? 'setInterval(() => {}, 1000)'
      : `require('net').createServer().listen(${listenOn}, '127.0.0.1', () => console.log('listening')); setInterval(() => {}, 1000)`;
  const child = spawn(process.execPath, ['-e', code, 'playground-test-leftover'], { stdio: ['ignore', 'pipe', 'ignore'] });
  cleanups.push(() => {
    child.kill('SIGKILL');
  });
  if (listenOn !== undefined) await once(child.stdout as NodeJS.ReadableStream, 'data');
  const pid = child.pid as number;
  return { child, recorded: { pid, argv: commandLineOf(pid) ?? [] } };
}

describe('npm run playground', () => {
  it('refuses to start when the gateway port is taken, naming the port and the process holding it', async () => {
    const holder = createServer();
    holder.listen(0, '127.0.0.1');
    await once(holder, 'listening');
    cleanups.push(() => {
      holder.close();
    });
    const port = (holder.address() as { port: number }).port;
    const dir = await playgroundDir();

    const run = runPlayground(dir, [`--server_address=127.0.0.1:${port}`]);
    const { code } = await run.exit;

    expect(code).toBe(1);
    expect(run.output()).toContain(`port ${port} is already in use by pid ${process.pid}`);
    expect(run.output()).not.toContain('gateway ready');
    expect(existsSync(dir)).toBe(false);
  });

  it('stops what a killed run recorded, leaves other processes alone, and stops everything on SIGTERM to npm', async () => {
    const port = await freePort();
    const dir = await playgroundDir();
    // What a kill -9'd playground leaves: its gateway still holding the port, recorded in pids.json,
    // and a recorded shard pid now used by an unrelated process (different command line).
    const orphan = await leftover(port);
    const unrelated = await leftover();
    await mkdir(dir, { recursive: true });
    await writeFile(
      join(dir, 'pids.json'),
      JSON.stringify({
        playground: { pid: orphan.recorded.pid, argv: ['node', '--import', 'tsx', 'scripts/playground.ts'] },
        shards: [{ name: 'shard_a', pid: unrelated.recorded.pid, argv: ['/usr/sbin/mariadbd', `--datadir=${dir}/shard_a/data`] }],
        gateway: orphan.recorded,
      }),
    );
    const orphanGone = once(orphan.child, 'exit');

    const run = runPlayground(dir, [`--server_address=127.0.0.1:${port}`]);
    await waitFor(run, /gateway ready/);
    await orphanGone;
    expect(run.output()).toContain(`stopped the gateway an earlier run left running (pid ${orphan.recorded.pid})`);
    expect(unrelated.child.exitCode).toBeNull();
    expect(unrelated.child.signalCode).toBeNull();

    // The gateway answering is this run's own, and everything it started is recorded.
    const pids = JSON.parse(readFileSync(join(dir, 'pids.json'), 'utf8')) as {
      playground: RecordedProcess;
      shards: RecordedProcess[];
      gateway: RecordedProcess;
    };
    expect(pids.shards).toHaveLength(3);
    const started = [pids.playground, pids.gateway, ...pids.shards];
    for (const p of started) expect(isStillRunning(p)).toBe(true);
    expect((await fetch(`http://127.0.0.1:${port}/healthz`)).ok).toBe(true);

    // SIGTERM to the process the user started (npm) stops everything and removes the data.
    run.child.kill('SIGTERM');
    const { code } = await run.exit;
    expect(code).toBe(0);
    for (const p of started) expect(isStillRunning(p), `pid ${p.pid} (${p.argv.join(' ')})`).toBe(false);
    expect(existsSync(dir)).toBe(false);
  }, 180_000);
});
