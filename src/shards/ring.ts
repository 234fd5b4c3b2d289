/**
 * Consistent-hash ring: proposes a shard for a family that has never been
 * placed.
 *
 * Owns: the hash function and the ring of virtual nodes. Pure: no I/O, no
 * clock, no randomness.
 * Must not: decide placement on its own. The catalog is the truth: once a
 * family has a catalog row, that row wins, even after the shard list (and so
 * the ring's proposal) changed.
 *
 * Determinism across processes and Node versions matters, because several
 * gateway processes propose placements for the same family at once. The hash
 * is therefore MD5 (via node:crypto, fixed forever by RFC 1321) of the UTF-8
 * bytes of the key, of which the first 8 bytes are read as an unsigned 64-bit
 * big-endian integer. test/fixtures/ring-golden.json pins the result.
 */
import { createHash } from 'node:crypto';
import { AppError } from '../errors/app-error.js';

/** Virtual nodes per shard when none is given (same default as the ring_vnodes flag). */
export const DEFAULT_RING_VNODES = 160;

/**
 * The ring position of `key`: the first 8 bytes of MD5(UTF-8 key), unsigned
 * big-endian.
 *
 * @example ringHash('dog_registry') === 0x37b454a104e7e273n
 */
export function ringHash(key: string): bigint {
  return createHash('md5').update(key, 'utf8').digest().readBigUInt64BE(0);
}

/**
 * A consistent-hash ring over shard ids. Shard `s` owns the `vnodes` points
 * `ringHash(`${s}#${i}`)` for i in 0..vnodes-1; a family goes to the owner of
 * the first point at or after `ringHash(family)`, wrapping around.
 *
 * Invariants: the mapping depends only on the set of shard ids and `vnodes`
 * (not on their order); adding a shard moves families only to the new shard;
 * removing one moves only the families it owned.
 */
export class HashRing {
  /** The shard ids, in the order given. */
  readonly shardIds: readonly string[];
  /** Virtual nodes per shard. */
  readonly vnodes: number;
  private readonly points: readonly bigint[];
  private readonly owners: readonly string[];

  /**
   * @param shardIds non-empty list of distinct, non-empty shard ids.
   * @param vnodes virtual nodes per shard, a positive integer (default 160).
   * @throws AppError `CONFIG_INVALID` when the list is empty, an id is empty
   *   or repeated, or `vnodes` is not a positive integer.
   */
  constructor(shardIds: readonly string[], vnodes: number = DEFAULT_RING_VNODES) {
    if (shardIds.length === 0) {
      throw new AppError('CONFIG_INVALID', 'the hash ring needs at least one shard; configure --shards or --mysql_address', { shards: [] });
    }
    if (!Number.isSafeInteger(vnodes) || vnodes < 1) {
      throw new AppError('CONFIG_INVALID', `ring virtual nodes must be a positive integer, got ${String(vnodes)}; fix --ring_vnodes`, { vnodes });
    }
    const seen = new Set<string>();
    for (const id of shardIds) {
      if (id === '') throw new AppError('CONFIG_INVALID', 'a shard id is empty; give every shard a name', { shards: [...shardIds] });
      if (seen.has(id)) {
        throw new AppError('CONFIG_INVALID', `shard id "${id}" appears twice; shard ids must be unique`, { shard: id, shards: [...shardIds] });
      }
      seen.add(id);
    }

    const entries: { point: bigint; owner: string }[] = [];
    for (const owner of shardIds) {
      for (let i = 0; i < vnodes; i++) entries.push({ point: ringHash(`${owner}#${i}`), owner });
    }
    // Ties (practically impossible with 64 bits) break by shard id, so the
    // ring never depends on the order of the list.
    entries.sort((a, b) => (a.point < b.point ? -1 : a.point > b.point ? 1 : a.owner < b.owner ? -1 : a.owner > b.owner ? 1 : 0));

    this.shardIds = Object.freeze([...shardIds]);
    this.vnodes = vnodes;
    this.points = entries.map((e) => e.point);
    this.owners = entries.map((e) => e.owner);
  }

  /**
   * The shard proposed for `family`: the owner of the first ring point at or
   * after `ringHash(family)`, wrapping to the first point.
   *
   * @example new HashRing(['a', 'b', 'c']).shardFor('dog_registry') // always the same id
   */
  shardFor(family: string): string {
    const h = ringHash(family);
    // Lower bound: first index whose point >= h.
    let lo = 0;
    let hi = this.points.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      const point = this.points[mid];
      if (point !== undefined && point < h) lo = mid + 1;
      else hi = mid;
    }
    const owner = this.owners[lo === this.owners.length ? 0 : lo];
    if (owner === undefined) throw new Error('HashRing: empty ring'); // unreachable: the constructor refuses an empty list
    return owner;
  }
}
