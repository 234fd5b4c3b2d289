import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { isAppError } from '../../../src/errors/app-error.js';
import { DEFAULT_RING_VNODES, HashRing, ringHash } from '../../../src/shards/ring.js';
import { codeOf } from '../../helpers/app-error.js';

interface Golden {
  note: string;
  shards: string[];
  vnodes: number;
  mapping: Record<string, string>;
}

const golden = JSON.parse(
  readFileSync(new URL('../../fixtures/ring-golden.json', import.meta.url), 'utf8'),
) as Golden;

/** Deterministic pseudo-random generator (mulberry32), so the tests never depend on Math.random. */
function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function randomNames(count: number, seed: number): string[] {
  const next = seededRandom(seed);
  const alphabet = 'abcdefghijklmnopqrstuvwxyz0123456789_';
  const names = new Set<string>();
  while (names.size < count) {
    const length = 3 + Math.floor(next() * 20);
    let name = '';
    for (let i = 0; i < length; i++) name += alphabet[Math.floor(next() * alphabet.length)] ?? 'x';
    names.add(name);
  }
  return [...names];
}

const NAMES = randomNames(10_000, 42);

describe('ringHash', () => {
  it('is the first 8 bytes of MD5, big-endian (pinned; independent of the Node version)', () => {
    // md5("dog_registry") = 37b454a104e7e2738f41ddcf68de1370
    expect(ringHash('dog_registry')).toBe(0x37b454a104e7e273n);
    // md5("") = d41d8cd98f00b204e9800998ecf8427e
    expect(ringHash('')).toBe(0xd41d8cd98f00b204n);
  });

  it('hashes the UTF-8 bytes of the key', () => {
    // md5(c3 a9, "é" in UTF-8) = 66ddcd97cfdeabb2...; md5(e9, latin1) = 3406877694691ddd...
    expect(ringHash('é')).toBe(0x66ddcd97cfdeabb2n);
  });
});

describe('HashRing', () => {
  it('is deterministic: two rings over the same shards agree on every name', () => {
    const a = new HashRing(['s1', 's2', 's3']);
    const b = new HashRing(['s1', 's2', 's3']);
    for (const name of NAMES.slice(0, 2000)) expect(b.shardFor(name)).toBe(a.shardFor(name));
  });

  it('does not depend on the order of the shard list', () => {
    const a = new HashRing(['s1', 's2', 's3']);
    const b = new HashRing(['s3', 's1', 's2']);
    for (const name of NAMES.slice(0, 2000)) expect(b.shardFor(name)).toBe(a.shardFor(name));
  });

  it('only ever answers one of its shard ids', () => {
    const ring = new HashRing(['x', 'y']);
    for (const name of NAMES.slice(0, 500)) expect(['x', 'y']).toContain(ring.shardFor(name));
  });

  it('uses 160 virtual nodes by default', () => {
    expect(DEFAULT_RING_VNODES).toBe(160);
    expect(new HashRing(['a']).vnodes).toBe(160);
    const explicit = new HashRing(['a', 'b', 'c'], 160);
    const implicit = new HashRing(['a', 'b', 'c']);
    for (const name of NAMES.slice(0, 500)) expect(implicit.shardFor(name)).toBe(explicit.shardFor(name));
  });

  it('a single shard gets everything', () => {
    const ring = new HashRing(['only']);
    for (const name of NAMES.slice(0, 200)) expect(ring.shardFor(name)).toBe('only');
  });

  it('balances 10,000 names over 3 shards within 25-42% each', () => {
    const ring = new HashRing(['shard-a', 'shard-b', 'shard-c']);
    const counts = new Map<string, number>();
    for (const name of NAMES) counts.set(ring.shardFor(name), (counts.get(ring.shardFor(name)) ?? 0) + 1);
    expect([...counts.keys()].sort()).toEqual(['shard-a', 'shard-b', 'shard-c']);
    for (const count of counts.values()) {
      expect(count / NAMES.length).toBeGreaterThanOrEqual(0.25);
      expect(count / NAMES.length).toBeLessThanOrEqual(0.42);
    }
  });

  it('adding a 4th shard moves about 1/4 of the names, and only to the new shard', () => {
    const before = new HashRing(['shard-a', 'shard-b', 'shard-c']);
    const after = new HashRing(['shard-a', 'shard-b', 'shard-c', 'shard-d']);
    let moved = 0;
    for (const name of NAMES) {
      const from = before.shardFor(name);
      const to = after.shardFor(name);
      if (from !== to) {
        moved++;
        expect(to).toBe('shard-d');
      }
    }
    expect(moved / NAMES.length).toBeGreaterThan(0.15);
    expect(moved / NAMES.length).toBeLessThan(0.35);
  });

  it('removing a shard moves only that shard’s names', () => {
    const before = new HashRing(['shard-a', 'shard-b', 'shard-c', 'shard-d']);
    const after = new HashRing(['shard-a', 'shard-c', 'shard-d']);
    let moved = 0;
    for (const name of NAMES) {
      const from = before.shardFor(name);
      const to = after.shardFor(name);
      if (from === 'shard-b') {
        moved++;
        expect(to).not.toBe('shard-b');
      } else {
        expect(to).toBe(from);
      }
    }
    expect(moved).toBeGreaterThan(0);
  });

  it('matches the golden mapping in test/fixtures/ring-golden.json exactly', () => {
    expect(golden.note).toMatch(/stated reason/);
    expect(Object.keys(golden.mapping).length).toBeGreaterThanOrEqual(50);
    const ring = new HashRing(golden.shards, golden.vnodes);
    const actual: Record<string, string> = {};
    for (const family of Object.keys(golden.mapping)) actual[family] = ring.shardFor(family);
    expect(actual).toEqual(golden.mapping);
    // The fixture is only useful if it exercises every shard.
    expect(new Set(Object.values(golden.mapping))).toEqual(new Set(golden.shards));
  });

  it('keeps a copy of the shard ids and the vnode count', () => {
    const ids = ['a', 'b'];
    const ring = new HashRing(ids, 7);
    ids.push('c');
    expect(ring.shardIds).toEqual(['a', 'b']);
    expect(Object.isFrozen(ring.shardIds)).toBe(true);
    expect(ring.vnodes).toBe(7);
  });

  it('refuses an empty list, duplicate or empty ids and bad vnode counts with CONFIG_INVALID', () => {
    expect(codeOf(() => new HashRing([]))).toBe('CONFIG_INVALID');
    expect(codeOf(() => new HashRing(['a', 'b', 'a']))).toBe('CONFIG_INVALID');
    expect(codeOf(() => new HashRing(['a', '']))).toBe('CONFIG_INVALID');
    expect(codeOf(() => new HashRing(['a'], 0))).toBe('CONFIG_INVALID');
    expect(codeOf(() => new HashRing(['a'], -3))).toBe('CONFIG_INVALID');
    expect(codeOf(() => new HashRing(['a'], 1.5))).toBe('CONFIG_INVALID');
    expect(codeOf(() => new HashRing(['a'], Number.NaN))).toBe('CONFIG_INVALID');
  });
});
