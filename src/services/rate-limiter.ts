/**
 * Per-token rate limits (`requests_per_minute`, `events_per_minute` in the
 * tokens file): fixed windows of one minute per key (a token name and what is
 * counted), in this process's memory by default, or shared by every gateway
 * process through Redis with `--rate_limit_redis`.
 *
 * Semantics, for both kinds: a window is `[k * windowMs, (k + 1) * windowMs)`
 * of the clock, so every process agrees on the window without talking. A
 * charge of `amount` is allowed only if the whole amount still fits under the
 * limit; a refused charge consumes nothing (a client hammering while limited
 * does not push its budget further away), and `retryAfterSeconds` is the time
 * until the window ends. A fixed window lets a client spend up to twice the
 * limit across one boundary; that is the accepted price of one counter and
 * one round trip per charge.
 *
 * Redis: one Lua script (`defineCommand`, EVALSHA) reads the window's counter,
 * and only when the amount fits, INCRBYs it and sets its PEXPIRE to the end of
 * the window plus a margin; atomic, so concurrent processes never overshoot.
 * Keys are `databalancer:rate:<key>:<window index>`. Windows follow the
 * gateways' clocks: keep the hosts NTP-synchronised (a skew of s seconds
 * shifts that host's windows by s).
 *
 * Redis down (refused, lost, or not answering within `commandTimeoutMs`):
 * the limiter FAILS OVER TO PER-PROCESS LIMITS, not open and not closed.
 * Authentication never depends on Redis, so nobody gets in who could not
 * before; each process keeps enforcing every token's limit in its own memory,
 * so a token can spend at most N times its budget across N processes while
 * Redis is away. Failing closed would turn a Redis outage into a gateway
 * outage for every limited token; failing fully open would drop limits at the
 * moment something is already wrong. The change is logged once as a warning
 * (and its end once as info), never per request. After a failure, Redis is
 * skipped for `retryRedisAfterMs` (so a hung Redis costs one timeout per
 * interval, not one per request), and at once again when the client reports
 * it is ready. A charge whose command timed out may still be applied by a
 * Redis that wakes up: it can only over-count, never under-count.
 */
import { createRequire } from 'node:module';
import type { Redis } from 'ioredis';
import type { Logger } from '../logging/logger.js';
import { systemClock, type Clock } from './clock.js';

/** The answer to one charge. */
export interface RateDecision {
  /** True: the amount was charged. False: nothing was charged. */
  readonly allowed: boolean;
  /** Units charged in the current window, after this charge. */
  readonly used: number;
  /** The limit the charge was checked against. */
  readonly limit: number;
  /** 0 when allowed; else whole seconds (at least 1) until the window ends. */
  readonly retryAfterSeconds: number;
}

/** Charges amounts against per-key limits per window. */
export interface RateLimiter {
  /**
   * Charges `amount` (a positive integer) to `key` if it fits under `limit`
   * (a positive integer) in the current window.
   * @throws RangeError for an amount or limit that is not a positive integer (a caller's bug).
   */
  take(key: string, amount: number, limit: number): Promise<RateDecision>;
  /** Releases connections; further takes are not allowed. */
  close(): Promise<void>;
}

/** Shared options of both limiters. */
export interface WindowOptions {
  /** Window length; default one minute. Tests use short ones. */
  readonly windowMs?: number;
  /** The time source of the windows. */
  readonly clock?: Clock;
}

const MINUTE_MS = 60_000;

function checkCharge(amount: number, limit: number): void {
  if (!Number.isSafeInteger(amount) || amount < 1) throw new RangeError(`rate limiter amount must be a positive integer, got ${amount}`);
  if (!Number.isSafeInteger(limit) || limit < 1) throw new RangeError(`rate limiter limit must be a positive integer, got ${limit}`);
}

function retryAfter(nowMs: number, window: number, windowMs: number): number {
  return Math.max(1, Math.ceil(((window + 1) * windowMs - nowMs) / 1000));
}

/** Limits held in this process's memory. */
export class MemoryRateLimiter implements RateLimiter {
  private readonly windowMs: number;
  private readonly clock: Clock;
  private readonly maxKeys: number;
  private readonly counters = new Map<string, { window: number; used: number }>();

  /** @param options.maxKeys above this many keys, keys of past windows are dropped (default 100,000). */
  constructor(options: WindowOptions & { readonly maxKeys?: number } = {}) {
    this.windowMs = options.windowMs ?? MINUTE_MS;
    this.clock = options.clock ?? systemClock;
    this.maxKeys = options.maxKeys ?? 100_000;
  }

  /** Keys held (for tests and metrics). */
  get size(): number {
    return this.counters.size;
  }

  take(key: string, amount: number, limit: number): Promise<RateDecision> {
    try {
      return Promise.resolve(this.takeNow(key, amount, limit));
    } catch (error) {
      return Promise.reject(error as Error);
    }
  }

  /** The synchronous charge behind {@link take}. */
  takeNow(key: string, amount: number, limit: number): RateDecision {
    checkCharge(amount, limit);
    const now = this.clock().getTime();
    const window = Math.floor(now / this.windowMs);
    let counter = this.counters.get(key);
    if (counter === undefined) {
      if (this.counters.size >= this.maxKeys) this.dropPast(window);
      counter = { window, used: 0 };
      this.counters.set(key, counter);
    } else if (counter.window < window) {
      counter.window = window;
      counter.used = 0;
    }
    if (counter.used + amount > limit) {
      return { allowed: false, used: counter.used, limit, retryAfterSeconds: retryAfter(now, counter.window, this.windowMs) };
    }
    counter.used += amount;
    return { allowed: true, used: counter.used, limit, retryAfterSeconds: 0 };
  }

  close(): Promise<void> {
    this.counters.clear();
    return Promise.resolve();
  }

  private dropPast(window: number): void {
    for (const [key, counter] of this.counters) if (counter.window < window) this.counters.delete(key);
  }
}

/** Options of {@link RedisRateLimiter}. */
export interface RedisLimiterOptions extends WindowOptions {
  readonly logger: Logger;
  /** Most time a charge waits for Redis before using the per-process limits; default 500 ms. */
  readonly commandTimeoutMs?: number;
  /** After a failure, how long charges skip Redis; default 1000 ms. */
  readonly retryRedisAfterMs?: number;
  /** Prefix of every key; default `databalancer:rate:`. */
  readonly keyPrefix?: string;
}

/** Reads, and if the amount fits adds and sets the expiry, atomically. Returns {allowed 0|1, used}. */
const TAKE_SCRIPT = `
local used = tonumber(redis.call('GET', KEYS[1]) or '0')
local amount = tonumber(ARGV[1])
if used + amount > tonumber(ARGV[2]) then
  return {0, used}
end
used = redis.call('INCRBY', KEYS[1], amount)
redis.call('PEXPIRE', KEYS[1], ARGV[3])
return {1, used}
`;

interface WithTakeCommand {
  databalancerRateTake(key: string, amount: number, limit: number, ttlMs: number): Promise<[number, number]>;
}

/** Limits shared by every process through one Redis; per-process limits while it is away (see the header). */
export class RedisRateLimiter implements RateLimiter {
  private readonly redis: Redis;
  private readonly fallback: MemoryRateLimiter;
  private readonly windowMs: number;
  private readonly clock: Clock;
  private readonly logger: Logger;
  private readonly keyPrefix: string;
  private readonly retryRedisAfterMs: number;
  private readonly address: string;
  private skipRedisUntil = 0;
  private degraded = false;
  private closed = false;

  constructor(url: string, options: RedisLimiterOptions) {
    this.windowMs = options.windowMs ?? MINUTE_MS;
    this.clock = options.clock ?? systemClock;
    this.logger = options.logger;
    this.keyPrefix = options.keyPrefix ?? 'databalancer:rate:';
    this.retryRedisAfterMs = options.retryRedisAfterMs ?? 1000;
    this.address = addressOf(url);
    this.fallback = new MemoryRateLimiter({ windowMs: this.windowMs, clock: this.clock });
    const commandTimeout = options.commandTimeoutMs ?? 500;
    // Loaded here, not at import: ioredis costs about 15 MB of memory that a gateway without --rate_limit_redis never needs.
    const { Redis: RedisClient } = createRequire(import.meta.url)('ioredis') as typeof import('ioredis');
    this.redis = new RedisClient(url, {
      // A charge never waits for a connection: it fails at once and uses the per-process limits.
      enableOfflineQueue: false,
      maxRetriesPerRequest: 0,
      commandTimeout,
      connectTimeout: Math.max(commandTimeout, 1000),
      // Keep reconnecting, at most every 2 s, for as long as the gateway runs.
      retryStrategy: (times: number) => Math.min(100 * times, 2000),
    });
    this.redis.defineCommand('databalancerRateTake', { numberOfKeys: 1, lua: TAKE_SCRIPT });
    // Without a listener ioredis prints every connection error; the state change is logged once instead.
    this.redis.on('error', (error: Error) => this.degrade(error));
    this.redis.on('ready', () => {
      this.skipRedisUntil = 0;
    });
  }

  /** Whether charges currently use the per-process limits. */
  get usingFallback(): boolean {
    return this.degraded;
  }

  /** Resolves true once connected to Redis, false after `timeoutMs` without (the limiter works either way). */
  async ready(timeoutMs = 2000): Promise<boolean> {
    if (this.redis.status === 'ready') return true;
    return new Promise((resolve) => {
      const done = (value: boolean): void => {
        clearTimeout(timer);
        this.redis.off('ready', onReady);
        resolve(value);
      };
      const onReady = (): void => done(true);
      const timer = setTimeout(() => done(false), timeoutMs);
      timer.unref();
      this.redis.on('ready', onReady);
    });
  }

  async take(key: string, amount: number, limit: number): Promise<RateDecision> {
    checkCharge(amount, limit);
    if (this.closed) throw new Error('rate limiter is closed');
    if (performance.now() < this.skipRedisUntil) return this.fallback.takeNow(key, amount, limit);
    const now = this.clock().getTime();
    const window = Math.floor(now / this.windowMs);
    // Expire a minute after the window ends: late charges of slow clocks still find it, and nothing piles up.
    const ttlMs = (window + 1) * this.windowMs - now + this.windowMs;
    try {
      const command = this.redis as unknown as WithTakeCommand;
      const [allowed, used] = await command.databalancerRateTake(`${this.keyPrefix}${key}:${window}`, amount, limit, ttlMs);
      this.recover();
      return allowed === 1
        ? { allowed: true, used, limit, retryAfterSeconds: 0 }
        : { allowed: false, used, limit, retryAfterSeconds: retryAfter(now, window, this.windowMs) };
    } catch (error) {
      this.degrade(error);
      this.skipRedisUntil = performance.now() + this.retryRedisAfterMs;
      return this.fallback.takeNow(key, amount, limit);
    }
  }

  async close(): Promise<void> {
    this.closed = true;
    this.redis.disconnect();
    await this.fallback.close();
  }

  private degrade(error: unknown): void {
    if (this.degraded || this.closed) return;
    this.degraded = true;
    this.logger.warn(
      { redis: this.address, err: error instanceof Error ? error.message : String(error) },
      'rate-limit Redis is unreachable; per-token limits now hold per process until it is back',
    );
  }

  private recover(): void {
    if (!this.degraded) return;
    this.degraded = false;
    this.logger.info({ redis: this.address }, 'rate-limit Redis is reachable again; per-token limits are shared again');
  }
}

/** host:port of a redis:// URL, without credentials, for logs. */
function addressOf(url: string): string {
  try {
    const parsed = new URL(url);
    return `${parsed.hostname}:${parsed.port === '' ? '6379' : parsed.port}`;
  } catch {
    return 'redis';
  }
}

/** The limiter for `--rate_limit_redis`: in memory when null, else shared through Redis. */
export function createRateLimiter(redisUrl: string | null, logger: Logger, options: WindowOptions = {}): RateLimiter {
  return redisUrl === null ? new MemoryRateLimiter(options) : new RedisRateLimiter(redisUrl, { ...options, logger });
}
