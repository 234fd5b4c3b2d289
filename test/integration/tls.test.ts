/**
 * --tls_cert/--tls_key serve HTTPS directly, with a self-signed certificate
 * made here by openssl: requests and tokens go over TLS, plain HTTP on the
 * same port gets no answer, and the client timeouts of http/server.ts still
 * apply (fastify ignores its `http` options once `https` is set). A missing
 * or unreadable certificate is CONFIG_INVALID, exit 2 for the process.
 */
import { execFileSync, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { request } from 'node:https';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { Server } from 'node:http';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { freePort, shardsFlag, startGateway, type TestGateway } from './helpers/gateway.js';

const shards = inject('shards');
let dir: string;
let cert: string;
let key: string;
let gateway: TestGateway;
const secret = `tls-${randomBytes(12).toString('hex')}`;

beforeAll(async () => {
  dir = mkdtempSync(path.join(tmpdir(), 'tls-'));
  cert = path.join(dir, 'cert.pem');
  key = path.join(dir, 'key.pem');
  execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '1', '-subj', '/CN=localhost', '-addext', 'subjectAltName=IP:127.0.0.1,DNS:localhost', '-keyout', key, '-out', cert], {
    stdio: 'ignore',
  });
  const tokens = path.join(dir, 'tokens.json');
  writeFileSync(tokens, JSON.stringify({ tokens: [{ name: 'reader', token: secret, scopes: ['query'] }] }));
  gateway = await startGateway(shards, [`--tls_cert=${cert}`, `--tls_key=${key}`, `--tokens_file=${tokens}`, '--headers_timeout_ms=4000', '--request_timeout_ms=9000'], {
    access: { watchIntervalMs: 0 },
  });
}, 60_000);

afterAll(async () => {
  await gateway?.close();
  rmSync(dir, { recursive: true, force: true });
});

/** A GET over HTTPS trusting only the test's certificate. */
function httpsGet(url: string, headers: Record<string, string> = {}): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request(url, { ca: readFileSync(cert), headers }, (res) => {
      let body = '';
      res.on('data', (chunk: Buffer) => (body += chunk.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

describe('HTTPS', () => {
  it('serves HTTPS with the given certificate, tokens included', async () => {
    expect(gateway.url).toMatch(/^https:\/\/127\.0\.0\.1:\d+$/);
    expect(await httpsGet(`${gateway.url}/healthz`)).toMatchObject({ status: 200 });
    expect((await httpsGet(`${gateway.url}/api/describe`)).status).toBe(401);
    const described = await httpsGet(`${gateway.url}/api/describe`, { authorization: `Bearer ${secret}` });
    expect(described.status).toBe(200);
    expect(JSON.parse(described.body)).toHaveProperty('tables');
  });

  it('refuses plain HTTP on the TLS port and a client that does not trust the certificate', async () => {
    const plain = gateway.url.replace('https://', 'http://');
    await expect(fetch(`${plain}/healthz`)).rejects.toThrow();
    await expect(fetch(`${gateway.url}/healthz`)).rejects.toThrow();
  });

  it('keeps the client timeouts of the HTTP server', () => {
    const server = gateway.app.server.server as Server;
    expect(server.headersTimeout).toBe(4000);
    expect(server.requestTimeout).toBe(9000);
    expect(server.keepAliveTimeout).toBe(65_000);
  });

  it('exits 2 with one line when the certificate cannot be read', async () => {
    const port = await freePort();
    const missing = path.join(dir, 'missing.pem');
    const result = await new Promise<{ code: number | null; stderr: string }>((resolve) => {
      const child = spawn(process.execPath, ['--import', 'tsx', 'src/main.ts', `--shards=${shardsFlag(shards)}`, `--server_address=127.0.0.1:${port}`, `--tls_cert=${missing}`, `--tls_key=${key}`], {
        cwd: process.cwd(),
        stdio: ['ignore', 'ignore', 'pipe'],
      });
      let stderr = '';
      child.stderr?.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
      const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
      child.once('exit', (code) => {
        clearTimeout(timer);
        resolve({ code, stderr });
      });
    });
    expect(result.code, result.stderr).toBe(2);
    expect(result.stderr.trim().split('\n')).toHaveLength(1);
    expect(result.stderr).toContain('--tls_cert');
    expect(result.stderr).toContain('ENOENT');
  }, 90_000);
});
