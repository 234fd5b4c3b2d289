/**
 * --workers=2: a supervisor forks two gateway processes sharing the listen
 * port; both serve, and SIGTERM to the supervisor stops them all.
 */
import { spawn } from 'node:child_process';
import { get } from 'node:http';
import { describe, expect, inject, it } from 'vitest';
import { freePort, ingest, shardsFlag, uniqueFamily } from './helpers/gateway.js';

const shards = inject('shards');

/** GET /healthz on a fresh connection (no keep-alive), so the cluster may pick any worker. */
function healthPid(port: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const request = get({ host: '127.0.0.1', port, path: '/healthz', agent: false }, (response) => {
      let body = '';
      response.on('data', (chunk: Buffer) => (body += chunk.toString()));
      response.on('end', () => {
        try {
          resolve((JSON.parse(body) as { pid: number }).pid);
        } catch (error) {
          reject(error);
        }
      });
    });
    request.on('error', reject);
  });
}

describe('--workers', () => {
  it('serves from two processes and stops them all on SIGTERM', async () => {
    const port = await freePort();
    let output = '';
    const child = spawn(
      process.execPath,
      ['--import', 'tsx', 'src/main.ts', `--shards=${shardsFlag(shards)}`, `--server_address=127.0.0.1:${port}`, '--workers=2'],
      { cwd: process.cwd(), env: { ...process.env, LOG_LEVEL: 'warn' }, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    child.stdout?.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.stderr?.on('data', (chunk: Buffer) => (output += chunk.toString()));
    const url = `http://127.0.0.1:${port}`;
    const pids = new Set<number>();
    try {
      const deadline = Date.now() + 45_000;
      while (pids.size < 2) {
        try {
          pids.add(await healthPid(port));
        } catch {
          // workers still starting
        }
        if (Date.now() > deadline) throw new Error(`expected two workers, saw ${[...pids].join(', ')}: ${output}`);
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
      expect(pids.has(child.pid ?? -1)).toBe(false);
      const family = uniqueFamily('workers');
      const answers = await Promise.all(Array.from({ length: 6 }, (_, i) => ingest({ url }, family, { i: 'int' }, [{ i }])));
      for (const answer of answers) expect(answer.status).toBe(200);

      const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
      child.kill('SIGTERM');
      expect(await exited).toBe(0);
      for (const pid of pids) {
        let alive = true;
        for (let i = 0; i < 50 && alive; i++) {
          try {
            process.kill(pid, 0);
            await new Promise((resolve) => setTimeout(resolve, 100));
          } catch {
            alive = false;
          }
        }
        expect(alive, `worker ${pid} still running`).toBe(false);
      }
    } finally {
      // Never leave a supervisor or its workers behind when an assertion fails.
      if (child.exitCode === null) child.kill('SIGKILL');
      for (const pid of pids) {
        try {
          process.kill(pid, 'SIGKILL');
        } catch {
          // already gone
        }
      }
    }
  });
});
