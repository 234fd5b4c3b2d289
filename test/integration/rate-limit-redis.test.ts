/**
 * Per-token limits shared through a real Redis (`--rate_limit_redis`): two
 * limiters, as two gateway processes would hold, share one budget per key and
 * window, atomically; a new window starts a new budget; and a Redis that is
 * stopped or killed degrades to per-process limits (logged once), then is
 * used again once it is back, as services/rate-limiter.ts documents.
 *
 * Starts its own throwaway redis-server processes (never persisted); needs
 * /usr/bin/redis-server (CI's .ci/run installs the redis-server package).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { existsSync } from 'node:fs';
import { Redis } from 'ioredis';
import { pino, type Logger } from 'pino';
import { afterAll, beforeAll, describe, expect, it, onTestFinished } from 'vitest';
import { RedisRateLimiter } from '../../src/services/rate-limiter.js';
import { freePort } from './helpers/gateway.js';

const REDIS_SERVER = '/usr/bin/redis-server';

interface RedisProcess {
  readonly url: string;
  readonly port: number;
  readonly child: ChildProcess;
}

async function startRedis(port?: number): Promise<RedisProcess> {
  if (!existsSync(REDIS_SERVER)) {
    throw new Error(`${REDIS_SERVER} is missing: install the redis-server package (apt-get install -y redis-server) to run test/integration/rate-limit-redis.test.ts`);
  }
  const chosen = port ?? (await freePort());
  let output = '';
  const child = spawn(REDIS_SERVER, ['--port', String(chosen), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--daemonize', 'no'], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  child.stdout?.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr?.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const url = `redis://127.0.0.1:${chosen}`;
  for (let attempt = 0; attempt < 200; attempt++) {
    if (child.exitCode !== null) throw new Error(`redis-server exited at start: ${output}`);
    const probe = new Redis(url, { lazyConnect: true, enableOfflineQueue: false, maxRetriesPerRequest: 0, retryStrategy: () => null });
    probe.on('error', () => undefined);
    try {
      await probe.connect();
      if ((await probe.ping()) === 'PONG') return { url, port: chosen, child };
    } catch {
      // not listening yet
    } finally {
      probe.disconnect();
    }
    await sleep(100);
  }
  child.kill('SIGKILL');
  throw new Error(`redis-server did not answer on ${url}: ${output}`);
}

async function stopRedis(redis: RedisProcess, signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
  if (redis.child.exitCode !== null || redis.child.signalCode !== null) return;
  const exited = new Promise((resolve) => redis.child.once('exit', resolve));
  redis.child.kill(signal);
  await exited;
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** A pino logger whose lines the test reads. */
function capturingLogger(): { logger: Logger; lines: Array<{ level: number; msg: string; [key: string]: unknown }> } {
  const lines: Array<{ level: number; msg: string }> = [];
  const logger = pino({ level: 'info' }, { write: (line: string) => void lines.push(JSON.parse(line)) });
  return { logger, lines };
}

/** A clock shared by the limiters of one test, moved by hand. */
function manualClock(startMs: number): { clock: () => Date; advance(ms: number): void } {
  let now = startMs;
  return { clock: () => new Date(now), advance: (ms) => void (now += ms) };
}

const T0 = Date.UTC(2030, 0, 1, 0, 0, 0);
const silent = pino({ level: 'silent' });

let shared: RedisProcess;
let raw: Redis;

beforeAll(async () => {
  shared = await startRedis();
  raw = new Redis(shared.url, { maxRetriesPerRequest: 1 });
  raw.on('error', () => undefined);
});
afterAll(async () => {
  raw?.disconnect();
  if (shared) await stopRedis(shared);
});

function limiters(url: string, clock: () => Date, extra: Partial<ConstructorParameters<typeof RedisRateLimiter>[1]> = {}): [RedisRateLimiter, RedisRateLimiter] {
  const a = new RedisRateLimiter(url, { logger: silent, clock, ...extra });
  const b = new RedisRateLimiter(url, { logger: silent, clock, ...extra });
  onTestFinished(async () => {
    await a.close();
    await b.close();
  });
  return [a, b];
}

describe('RedisRateLimiter against a real Redis', () => {
  it('two limiters (two processes) share one budget per key', async () => {
    const time = manualClock(T0 + 5_000);
    const [a, b] = limiters(shared.url, time.clock);
    expect(await a.ready(10_000)).toBe(true);
    expect(await b.ready(10_000)).toBe(true);
    const key = `shipper-${randomUUID()}:requests`;
    for (let i = 0; i < 3; i++) expect((await a.take(key, 1, 5)).allowed).toBe(true);
    expect(await b.take(key, 1, 5)).toMatchObject({ allowed: true, used: 4 });
    expect(await b.take(key, 1, 5)).toMatchObject({ allowed: true, used: 5 });
    expect(await a.take(key, 1, 5)).toMatchObject({ allowed: false, used: 5, retryAfterSeconds: 55 });
    expect((await b.take(key, 1, 5)).allowed).toBe(false);

    // Events are charged by count; a charge that does not fit consumes nothing.
    const events = `shipper-${randomUUID()}:events`;
    expect(await a.take(events, 600, 1000)).toMatchObject({ allowed: true, used: 600 });
    expect(await b.take(events, 500, 1000)).toMatchObject({ allowed: false, used: 600 });
    expect(await b.take(events, 400, 1000)).toMatchObject({ allowed: true, used: 1000 });
    expect(a.usingFallback || b.usingFallback).toBe(false);
  });

  it('is atomic: concurrent charges from both never exceed the limit', async () => {
    const time = manualClock(T0);
    const [a, b] = limiters(shared.url, time.clock);
    await Promise.all([a.ready(10_000), b.ready(10_000)]);
    const key = `busy-${randomUUID()}:requests`;
    const results = await Promise.all(Array.from({ length: 60 }, (_, i) => (i % 2 === 0 ? a : b).take(key, 1, 25)));
    expect(results.filter((r) => r.allowed)).toHaveLength(25);
    expect(Number(await raw.get(`databalancer:rate:${key}:${Math.floor(T0 / 60_000)}`))).toBe(25);
  });

  it('starts a new budget in the next window, and lets old counters expire', async () => {
    const time = manualClock(T0 + 59_000);
    const [a, b] = limiters(shared.url, time.clock);
    await Promise.all([a.ready(10_000), b.ready(10_000)]);
    const key = `window-${randomUUID()}:requests`;
    expect((await a.take(key, 2, 2)).allowed).toBe(true);
    expect(await b.take(key, 1, 2)).toMatchObject({ allowed: false, retryAfterSeconds: 1 });
    const ttl = await raw.pttl(`databalancer:rate:${key}:${Math.floor(T0 / 60_000)}`);
    expect(ttl).toBeGreaterThan(0);
    expect(ttl).toBeLessThanOrEqual(61_000);
    time.advance(1_000);
    expect(await b.take(key, 2, 2)).toMatchObject({ allowed: true, used: 2 });
    expect((await a.take(key, 1, 2)).allowed).toBe(false);
  });

  it('works with a short window on the real clock', async () => {
    const [a, b] = limiters(shared.url, () => new Date(), { windowMs: 500 });
    await Promise.all([a.ready(10_000), b.ready(10_000)]);
    const key = `short-${randomUUID()}:requests`;
    // Fill the current window from both, then wait (bounded) for a window that takes a charge again.
    let refused = false;
    for (let i = 0; i < 50 && !refused; i++) refused = !(await (i % 2 === 0 ? a : b).take(key, 1, 3)).allowed;
    expect(refused).toBe(true);
    let allowedAgain = false;
    for (let i = 0; i < 100 && !allowedAgain; i++) {
      await sleep(50);
      allowedAgain = (await b.take(key, 1, 3)).allowed;
    }
    expect(allowedAgain).toBe(true);
  });
});

describe('a Redis that is down', () => {
  it('is not needed at start: charges use per-process limits, with one warning', async () => {
    const { logger, lines } = capturingLogger();
    const limiter = new RedisRateLimiter(`redis://127.0.0.1:${await freePort()}`, { logger, clock: manualClock(T0).clock });
    onTestFinished(() => limiter.close());
    expect(await limiter.ready(300)).toBe(false);
    const results = [];
    for (let i = 0; i < 4; i++) results.push(await limiter.take('nobody:requests', 1, 3));
    expect(results.map((r) => r.allowed)).toEqual([true, true, true, false]);
    expect(limiter.usingFallback).toBe(true);
    const warnings = lines.filter((l) => l.level === 40);
    expect(warnings).toHaveLength(1);
    expect(warnings[0]?.msg).toContain('per-token limits now hold per process');
  });

  it('stopped (SIGSTOP), then killed, then back: per-process limits meanwhile, shared again after', async () => {
    const own = await startRedis();
    onTestFinished(() => stopRedis(own, 'SIGKILL'));
    const { logger, lines } = capturingLogger();
    const time = manualClock(T0);
    const limiter = new RedisRateLimiter(own.url, { logger, clock: time.clock, commandTimeoutMs: 300, retryRedisAfterMs: 200 });
    onTestFinished(() => limiter.close());
    expect(await limiter.ready(10_000)).toBe(true);
    const key = `outage-${randomUUID()}:requests`;
    expect(await limiter.take(key, 2, 3)).toMatchObject({ allowed: true, used: 2 });

    // A hung Redis: the charge gives up after the command timeout and uses this process's own budget.
    own.child.kill('SIGSTOP');
    const hung = await limiter.take(key, 1, 3);
    expect(hung).toMatchObject({ allowed: true, used: 1 });
    expect(limiter.usingFallback).toBe(true);

    // Killed: charges fail fast and keep using the per-process budget, which still limits.
    await stopRedis(own, 'SIGKILL');
    expect(await limiter.take(key, 2, 3)).toMatchObject({ allowed: true, used: 3 });
    expect(await limiter.take(key, 1, 3)).toMatchObject({ allowed: false, used: 3 });
    expect(lines.filter((l) => l.level === 40)).toHaveLength(1);

    // Back on the same port (empty: no persistence): charges go to Redis again once it is reachable.
    const again = await startRedis(own.port);
    onTestFinished(() => stopRedis(again));
    let back = false;
    for (let i = 0; i < 200 && !back; i++) {
      await sleep(100);
      const decision = await limiter.take(key, 1, 3);
      back = !limiter.usingFallback;
      if (back) expect(decision).toMatchObject({ allowed: true, used: 1 });
    }
    expect(back).toBe(true);
    const check = new Redis(again.url, { maxRetriesPerRequest: 1 });
    check.on('error', () => undefined);
    onTestFinished(() => check.disconnect());
    expect(await check.get(`databalancer:rate:${key}:${Math.floor(T0 / 60_000)}`)).toBe('1');
    expect(lines.filter((l) => l.level === 30).map((l) => l.msg)).toContain('rate-limit Redis is reachable again; per-token limits are shared again');
    expect(lines.filter((l) => l.level === 40)).toHaveLength(1);
  });
});
