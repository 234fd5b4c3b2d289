/**
 * The tokens file is picked up without a restart: a reload (what SIGHUP
 * calls) or the file watcher replaces the tokens; a broken new file keeps
 * the old tokens and logs the problems without a secret. A gateway process
 * given a broken tokens file at start exits 2 with one clear line; a
 * running one survives SIGHUP and serves the new tokens after it; and one
 * without --tokens_file listening beyond loopback warns at start.
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, inject, it, onTestFinished } from 'vitest';
import { createApp } from '../../src/app.js';
import { loadConfig } from '../../src/config/config.js';
import { api, freePort, shardsFlag, type ApiResponse } from './helpers/gateway.js';

const shards = inject('shards');
let dir: string;

beforeAll(() => {
  dir = mkdtempSync(path.join(tmpdir(), 'access-reload-'));
});
afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

const secret = (label: string): string => `${label}-${randomBytes(12).toString('hex')}`;

/** Replaces `file` atomically (as editors and config management do: write, then rename). */
function writeTokens(file: string, content: unknown): void {
  const temporary = `${file}.${randomBytes(3).toString('hex')}.tmp`;
  writeFileSync(temporary, typeof content === 'string' ? content : JSON.stringify(content));
  renameSync(temporary, file);
}

const tokensOf = (entries: Array<[name: string, token: string]>) => ({ tokens: entries.map(([name, token]) => ({ name, token, scopes: ['query'] })) });

function describeAs(gateway: { url: string }, token: string): Promise<ApiResponse> {
  return api(gateway, 'GET', '/api/describe', undefined, { authorization: `Bearer ${token}` });
}

async function gatewayWith(file: string, watchIntervalMs: number) {
  const lines: string[] = [];
  const logger = pino({ level: 'info' }, { write: (line: string) => void lines.push(line) });
  const config = loadConfig([`--shards=${shardsFlag(shards)}`, '--server_address=127.0.0.1:0', `--tokens_file=${file}`], {});
  const app = await createApp(config, logger, { access: { watchIntervalMs } });
  const url = await app.server.listen({ host: '127.0.0.1', port: 0 });
  onTestFinished(() => app.close());
  return { app, url, lines };
}

describe('reloading the tokens file', () => {
  it('replaces the tokens on reload; a broken file keeps the old ones and logs why, without secrets', async () => {
    const file = path.join(dir, 'reload.json');
    const first = secret('first');
    const second = secret('second');
    writeTokens(file, tokensOf([['first', first]]));
    const gateway = await gatewayWith(file, 0);
    expect((await describeAs(gateway, first)).status).toBe(200);
    expect((await describeAs(gateway, second)).status).toBe(401);

    writeTokens(file, tokensOf([['second', second]]));
    // Not watched: the old tokens hold until the reload (SIGHUP in main.ts).
    expect((await describeAs(gateway, first)).status).toBe(200);
    expect(gateway.app.access.store?.reload()).toEqual({ ok: true, tokens: 1 });
    expect((await describeAs(gateway, first)).status).toBe(401);
    expect((await describeAs(gateway, second)).status).toBe(200);

    const leaked = secret('leaked');
    for (const broken of ['{"tokens": [', tokensOf([['bad name!', leaked]]), { tokens: [{ name: 'x', token: leaked, scopes: ['root'] }] }]) {
      writeTokens(file, broken);
      const result = gateway.app.access.store?.reload();
      expect(result?.ok).toBe(false);
      expect((await describeAs(gateway, second)).status).toBe(200);
      expect((await describeAs(gateway, leaked)).status).toBe(401);
    }
    const errors = gateway.lines.filter((line) => (JSON.parse(line) as { level: number }).level >= 50);
    expect(errors.length).toBe(3);
    expect(errors[0]).toContain('keeping the 1 token loaded before');
    expect(gateway.lines.join('\n')).not.toContain(leaked);
  });

  it('picks up a changed file by itself (the watcher)', async () => {
    const file = path.join(dir, 'watched.json');
    const first = secret('first');
    const second = secret('second');
    writeTokens(file, tokensOf([['first', first]]));
    const gateway = await gatewayWith(file, 50);
    expect((await describeAs(gateway, first)).status).toBe(200);
    writeTokens(file, tokensOf([['first', first], ['second', second]]));
    let status = 0;
    for (let attempt = 0; attempt < 200 && status !== 200; attempt++) {
      status = (await describeAs(gateway, second)).status;
      if (status !== 200) await new Promise((resolve) => setTimeout(resolve, 50));
    }
    expect(status).toBe(200);
    expect((await describeAs(gateway, first)).status).toBe(200);
  });
});

/** Runs src/main.ts with `flags`; resolves with its exit code and output once it exits (or kills it after `timeoutMs`). */
function runMain(flags: string[], timeoutMs = 60_000): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['--import', 'tsx', 'src/main.ts', `--shards=${shardsFlag(shards)}`, ...flags], {
      cwd: process.cwd(),
      env: { ...process.env, LOG_LEVEL: 'info' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout?.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr?.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.once('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

describe('the gateway process', () => {
  it('exits 2 with one line for a broken or missing tokens file at start', async () => {
    const leaked = secret('leaked');
    const file = path.join(dir, 'broken-at-start.json');
    writeTokens(file, { tokens: [{ name: 'ops', token: leaked, scopes: ['admin', 'superuser'] }] });
    for (const [tokensFile, says] of [
      [file, 'unknown scope "superuser"'],
      [path.join(dir, 'missing.json'), 'cannot be read (ENOENT)'],
    ] as const) {
      const port = await freePort();
      const result = await runMain([`--server_address=127.0.0.1:${port}`, `--tokens_file=${tokensFile}`]);
      expect(result.code, result.stderr).toBe(2);
      const lines = result.stderr.trim().split('\n');
      expect(lines).toHaveLength(1);
      expect(lines[0]).toContain('databalancer: invalid configuration:');
      expect(lines[0]).toContain(says);
      expect(result.stderr + result.stdout).not.toContain(leaked);
    }
  }, 120_000);

  it('survives SIGHUP and serves the reloaded tokens; warns when open beyond loopback without a tokens file', async () => {
    const file = path.join(dir, 'sighup.json');
    const first = secret('first');
    const second = secret('second');
    writeTokens(file, tokensOf([['first', first]]));
    const port = await freePort();
    const child = spawn(process.execPath, ['--import', 'tsx', 'src/main.ts', `--shards=${shardsFlag(shards)}`, `--server_address=127.0.0.1:${port}`, `--tokens_file=${file}`], {
      cwd: process.cwd(),
      env: { ...process.env, LOG_LEVEL: 'info' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout?.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.stderr?.on('data', (chunk: Buffer) => (output += chunk.toString()));
    onTestFinished(() => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    });
    const gateway = { url: `http://127.0.0.1:${port}` };
    for (let attempt = 0; attempt < 300; attempt++) {
      if (child.exitCode !== null) break;
      if (await fetch(`${gateway.url}/healthz`).then((r) => r.ok, () => false)) break;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    expect((await describeAs(gateway, first)).status, output).toBe(200);
    writeTokens(file, tokensOf([['second', second]]));
    child.kill('SIGHUP');
    let status = 0;
    for (let attempt = 0; attempt < 100 && status !== 200; attempt++) {
      status = (await describeAs(gateway, second)).status;
      if (status !== 200) await new Promise((resolve) => setTimeout(resolve, 100));
    }
    expect(status).toBe(200);
    expect(child.exitCode).toBeNull();
    expect(child.signalCode).toBeNull();
    expect(output).toContain('tokens file reloaded');
    expect(output).not.toContain('access control is off');

    // Without a tokens file, on every interface: a warning at start (the process is stopped once it has said so).
    const open = spawn(process.execPath, ['--import', 'tsx', 'src/main.ts', `--shards=${shardsFlag(shards)}`, `--server_address=0.0.0.0:${await freePort()}`], {
      cwd: process.cwd(),
      env: { ...process.env, LOG_LEVEL: 'info' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    onTestFinished(() => {
      if (open.exitCode === null && open.signalCode === null) open.kill('SIGKILL');
    });
    let openOutput = '';
    open.stdout?.on('data', (chunk: Buffer) => (openOutput += chunk.toString()));
    for (let attempt = 0; attempt < 300 && !openOutput.includes('Starting HTTP server'); attempt++) await new Promise((resolve) => setTimeout(resolve, 100));
    expect(openOutput).toContain('access control is off (no --tokens_file)');
    open.kill('SIGTERM');
  }, 120_000);
});
