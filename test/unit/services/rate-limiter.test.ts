import { describe, expect, it } from 'vitest';
import { pino } from 'pino';
import { MemoryRateLimiter, createRateLimiter, RedisRateLimiter } from '../../../src/services/rate-limiter.js';

/** A clock the test moves by hand. */
function manualClock(startMs: number): { clock: () => Date; set(ms: number): void; advance(ms: number): void } {
  let now = startMs;
  return { clock: () => new Date(now), set: (ms) => void (now = ms), advance: (ms) => void (now += ms) };
}

const MINUTE = 60_000;
const T0 = Date.UTC(2024, 5, 1, 12, 0, 0); // a window boundary

describe('MemoryRateLimiter: fixed windows per key', () => {
  it('allows up to the limit in a window, then refuses with the seconds left in it', async () => {
    const time = manualClock(T0 + 10_000);
    const limiter = new MemoryRateLimiter({ clock: time.clock });
    for (let i = 1; i <= 3; i++) expect(await limiter.take('a:requests', 1, 3)).toMatchObject({ allowed: true, used: i, limit: 3, retryAfterSeconds: 0 });
    expect(await limiter.take('a:requests', 1, 3)).toMatchObject({ allowed: false, used: 3, limit: 3, retryAfterSeconds: 50 });
    time.advance(49_500);
    expect((await limiter.take('a:requests', 1, 3)).retryAfterSeconds).toBe(1);
  });

  it('starts a new budget at the next window boundary', async () => {
    const time = manualClock(T0 + MINUTE - 1);
    const limiter = new MemoryRateLimiter({ clock: time.clock });
    expect((await limiter.take('k', 2, 2)).allowed).toBe(true);
    expect((await limiter.take('k', 1, 2)).allowed).toBe(false);
    time.advance(1);
    expect(await limiter.take('k', 2, 2)).toMatchObject({ allowed: true, used: 2 });
    time.advance(MINUTE - 1);
    expect((await limiter.take('k', 1, 2)).allowed).toBe(false);
    time.advance(1);
    expect((await limiter.take('k', 1, 2)).allowed).toBe(true);
  });

  it('never goes back to an old window when the clock steps back', async () => {
    const time = manualClock(T0 + MINUTE);
    const limiter = new MemoryRateLimiter({ clock: time.clock });
    expect((await limiter.take('k', 1, 1)).allowed).toBe(true);
    time.set(T0 + 30_000);
    // The clock went back into the previous window: still the budget of the newest one.
    expect((await limiter.take('k', 1, 1)).allowed).toBe(false);
  });

  it('charges by count, and a refused charge consumes nothing', async () => {
    const limiter = new MemoryRateLimiter({ clock: manualClock(T0).clock });
    expect(await limiter.take('e', 700, 1000)).toMatchObject({ allowed: true, used: 700 });
    expect(await limiter.take('e', 400, 1000)).toMatchObject({ allowed: false, used: 700 });
    expect(await limiter.take('e', 300, 1000)).toMatchObject({ allowed: true, used: 1000 });
    expect((await limiter.take('e', 1, 1000)).allowed).toBe(false);
  });

  it('refuses a single charge larger than the whole limit', async () => {
    const limiter = new MemoryRateLimiter({ clock: manualClock(T0).clock });
    expect(await limiter.take('e', 11, 10)).toMatchObject({ allowed: false, used: 0 });
  });

  it('keeps keys apart, and takes the limit of each call (a reloaded file applies at once)', async () => {
    const limiter = new MemoryRateLimiter({ clock: manualClock(T0).clock });
    expect((await limiter.take('a', 5, 5)).allowed).toBe(true);
    expect((await limiter.take('b', 5, 5)).allowed).toBe(true);
    expect((await limiter.take('a', 1, 10)).allowed).toBe(true);
    expect((await limiter.take('b', 1, 3)).allowed).toBe(false);
  });

  it('takes a window length (for short windows in tests)', async () => {
    const time = manualClock(1_000);
    const limiter = new MemoryRateLimiter({ clock: time.clock, windowMs: 1_000 });
    expect((await limiter.take('k', 1, 1)).allowed).toBe(true);
    expect(await limiter.take('k', 1, 1)).toMatchObject({ allowed: false, retryAfterSeconds: 1 });
    time.advance(1_000);
    expect((await limiter.take('k', 1, 1)).allowed).toBe(true);
  });

  it('forgets keys of past windows, so memory stays bounded', async () => {
    const time = manualClock(T0);
    const limiter = new MemoryRateLimiter({ clock: time.clock, maxKeys: 10 });
    for (let i = 0; i < 10; i++) await limiter.take(`k${i}`, 1, 1);
    time.advance(MINUTE);
    for (let i = 10; i < 15; i++) await limiter.take(`k${i}`, 1, 1);
    expect(limiter.size).toBeLessThanOrEqual(10);
  });

  it.each([
    [0, 1],
    [-1, 1],
    [1.5, 1],
    [1, 0],
    [1, Number.NaN],
  ])('rejects amount %d with limit %d as a programming error', async (amount, limit) => {
    const limiter = new MemoryRateLimiter({ clock: manualClock(T0).clock });
    await expect(limiter.take('k', amount, limit)).rejects.toThrow(RangeError);
  });
});

describe('createRateLimiter', () => {
  it('is in memory without a Redis URL, shared through Redis with one', async () => {
    const logger = pino({ level: 'silent' });
    const memory = createRateLimiter(null, logger);
    expect(memory).toBeInstanceOf(MemoryRateLimiter);
    await memory.close();
    // Port 9 (discard) on loopback: nothing listens; the limiter must not throw while constructed.
    const redis = createRateLimiter('redis://127.0.0.1:9', logger);
    expect(redis).toBeInstanceOf(RedisRateLimiter);
    await redis.close();
  });
});
