/**
 * Per-token limits over real HTTP: requests_per_minute charges every
 * authenticated request (REST and GraphQL) and answers 429 RATE_LIMITED with
 * Retry-After in seconds, then succeeds again in the next window;
 * events_per_minute charges an ingest's events before it is written, all or
 * nothing (a refused batch writes nothing and costs nothing). With
 * --rate_limit_redis two gateways (two limiters, as two processes hold)
 * share one budget. The windows follow an injected clock, so no test waits
 * for a minute to pass.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, inject, it, onTestFinished } from 'vitest';
import { RedisRateLimiter } from '../../src/services/rate-limiter.js';
import { api, freePort, snapshotFamily, startGateway, uniqueFamily, type ApiResponse, type TestGateway } from './helpers/gateway.js';

const shards = inject('shards');
const REDIS_SERVER = '/usr/bin/redis-server';

/** A clock moved by hand, starting in the middle of a minute window. */
function manualClock(): { clock: () => Date; advance(ms: number): void } {
  let now = Math.floor(Date.now() / 60_000) * 60_000 + 30_000;
  return { clock: () => new Date(now), advance: (ms) => void (now += ms) };
}

let dir: string;

beforeAll(() => {
  dir = mkdtempSync(path.join(tmpdir(), 'access-limits-'));
});
afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

/** Writes a tokens file of `tokens` and returns its path. */
function tokensFile(tokens: unknown[]): string {
  const file = path.join(dir, `tokens-${randomBytes(4).toString('hex')}.json`);
  writeFileSync(file, JSON.stringify({ tokens }));
  return file;
}

function as(gateway: { url: string }, secret: string, method: string, route: string, body?: unknown): Promise<ApiResponse> {
  return api(gateway, method, route, body, { authorization: `Bearer ${secret}` });
}

function expectLimited(answer: ApiResponse): number {
  expect(answer.status, JSON.stringify(answer.body)).toBe(429);
  const retryAfter = Number(answer.headers.get('retry-after'));
  expect(Number.isInteger(retryAfter)).toBe(true);
  expect(retryAfter).toBeGreaterThanOrEqual(1);
  expect(retryAfter).toBeLessThanOrEqual(60);
  return retryAfter;
}

describe('requests_per_minute', () => {
  it('answers 429 with Retry-After past the limit, on REST and GraphQL, and admits again in the next window', async () => {
    const secret = `lim-${randomBytes(12).toString('hex')}`;
    const time = manualClock();
    const gateway = await startGateway(shards, [`--tokens_file=${tokensFile([{ name: 'limited', token: secret, scopes: ['query'], limits: { requests_per_minute: 3 } }])}`], {
      access: { clock: time.clock, watchIntervalMs: 0 },
    });
    onTestFinished(() => gateway.close());
    for (let i = 0; i < 3; i++) expect((await as(gateway, secret, 'GET', '/api/describe')).status).toBe(200);
    const refused = await as(gateway, secret, 'GET', '/api/describe');
    const retryAfter = expectLimited(refused);
    expect(refused.body.error).toMatchObject({ code: 'RATE_LIMITED', limit: 'requests_per_minute', perMinute: 3, retryAfterSeconds: retryAfter });
    expect(refused.body.error.message).toContain('3 requests per minute');
    // GraphQL is charged the same way.
    const graphql = await as(gateway, secret, 'POST', '/graphql', { query: '{ describe { tables { name } } }' });
    expectLimited(graphql);
    expect(graphql.body.errors[0].extensions.code).toBe('RATE_LIMITED');
    // Health stays open; a wrong token is still 401, not 429.
    expect((await api(gateway, 'GET', '/healthz')).status).toBe(200);
    expect((await as(gateway, 'wrong', 'GET', '/api/describe')).status).toBe(401);

    time.advance(retryAfter * 1000);
    expect((await as(gateway, secret, 'GET', '/api/describe')).status).toBe(200);
  });
});

describe('events_per_minute', () => {
  it('charges the events of an ingest before writing it, all or nothing', async () => {
    const secret = `ev-${randomBytes(12).toString('hex')}`;
    const time = manualClock();
    const gateway = await startGateway(shards, [`--tokens_file=${tokensFile([{ name: 'shipper', token: secret, scopes: ['ingest'], limits: { events_per_minute: 5 } }])}`], {
      access: { clock: time.clock, watchIntervalMs: 0 },
    });
    onTestFinished(() => gateway.close());
    const family = uniqueFamily('evlim');
    const logs = (n: number) => Array.from({ length: n }, (_, i) => ({ n: i }));
    expect((await as(gateway, secret, 'PUT', '/api/log', { family, schema: { n: 'int' }, logs: logs(3) })).status).toBe(200);
    const before = await snapshotFamily(shards, family);
    const refused = await as(gateway, secret, 'PUT', '/api/log', { family, schema: { n: 'int' }, logs: logs(3) });
    expectLimited(refused);
    expect(refused.body.error).toMatchObject({ code: 'RATE_LIMITED', limit: 'events_per_minute', perMinute: 5 });
    expect(await snapshotFamily(shards, family)).toEqual(before);
    // The refused batch cost nothing: two more still fit.
    expect((await as(gateway, secret, 'PUT', '/api/log', { family, schema: { n: 'int' }, logs: logs(2) })).body.ingested).toBe(2);
    // GraphQL's ingestLogs too.
    const graphql = await as(gateway, secret, 'POST', '/graphql', { query: `mutation { ingestLogs(family: "${family}", schema: { n: "int" }, logs: [{ n: 1 }]) { ingested } }` });
    expect(graphql.body.errors?.[0]?.extensions?.code, JSON.stringify(graphql.body)).toBe('RATE_LIMITED');
    // A batch larger than the whole budget says to split it.
    time.advance(60_000);
    const tooBig = await as(gateway, secret, 'PUT', '/api/log', { family, schema: { n: 'int' }, logs: logs(6) });
    expectLimited(tooBig);
    expect(tooBig.body.error.message).toContain('split it');
    // A rejected (invalid) request costs no events.
    expect((await as(gateway, secret, 'PUT', '/api/log', { family, schema: { n: 'int' }, logs: [{ n: 'x' }, { n: 'y' }, { n: 'z' }] })).status).toBe(400);
    expect((await as(gateway, secret, 'PUT', '/api/log', { family, schema: { n: 'int' }, logs: logs(5) })).body.ingested).toBe(5);
    const rows = Object.values((await snapshotFamily(shards, family)).rows);
    expect(rows.reduce((sum, n) => sum + n, 0)).toBe(3 + 2 + 5);
  });
});

interface RedisProcess {
  readonly url: string;
  readonly child: ChildProcess;
}

async function startRedis(): Promise<RedisProcess> {
  if (!existsSync(REDIS_SERVER)) throw new Error(`${REDIS_SERVER} is missing: install the redis-server package to run this test`);
  const port = await freePort();
  let output = '';
  const child = spawn(REDIS_SERVER, ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--daemonize', 'no'], { stdio: ['ignore', 'pipe', 'pipe'] });
  child.stdout?.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr?.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const url = `redis://127.0.0.1:${port}`;
  for (let attempt = 0; attempt < 200; attempt++) {
    if (child.exitCode !== null) throw new Error(`redis-server exited at start: ${output}`);
    const probe = new Redis(url, { lazyConnect: true, enableOfflineQueue: false, maxRetriesPerRequest: 0, retryStrategy: () => null });
    probe.on('error', () => undefined);
    try {
      await probe.connect();
      if ((await probe.ping()) === 'PONG') return { url, child };
    } catch {
      // not listening yet
    } finally {
      probe.disconnect();
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  child.kill('SIGKILL');
  throw new Error(`redis-server did not answer on ${url}: ${output}`);
}

describe('--rate_limit_redis', () => {
  it('shares one budget between two gateways', async () => {
    const redis = await startRedis();
    onTestFinished(() => {
      if (redis.child.exitCode === null) redis.child.kill('SIGKILL');
    });
    const secret = `shared-${randomBytes(12).toString('hex')}`;
    const file = tokensFile([{ name: `shared_${randomBytes(3).toString('hex')}`, token: secret, scopes: ['query'], limits: { requests_per_minute: 4 } }]);
    const time = manualClock();
    const gateways: TestGateway[] = [];
    onTestFinished(async () => {
      for (const gateway of gateways) await gateway.close();
    });
    for (let i = 0; i < 2; i++) {
      gateways.push(await startGateway(shards, [`--tokens_file=${file}`, `--rate_limit_redis=${redis.url}`], { access: { clock: time.clock, watchIntervalMs: 0 } }));
    }
    const [one, two] = gateways as [TestGateway, TestGateway];
    // Connected, as main.ts waits before listening (until then each process counts alone).
    for (const gateway of gateways) expect(await (gateway.app.access.limiter as RedisRateLimiter).ready(10_000)).toBe(true);
    const statuses: number[] = [];
    for (const gateway of [one, two, one, two]) statuses.push((await as(gateway, secret, 'GET', '/api/describe')).status);
    expect(statuses).toEqual([200, 200, 200, 200]);
    // Each gateway alone has used only two of the four: the fifth and sixth are refused on both.
    expectLimited(await as(one, secret, 'GET', '/api/describe'));
    expectLimited(await as(two, secret, 'GET', '/api/describe'));
    time.advance(60_000);
    expect((await as(two, secret, 'GET', '/api/describe')).status).toBe(200);
  });
});
