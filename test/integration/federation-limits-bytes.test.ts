/**
 * Staging is bounded by bytes, not rows: a cross-shard join over rows of
 * about 60 KB each (1,000 of them, 60 MB: 5,000-row pages would have made
 * one 300 MB INSERT, far past the target's max_allowed_packet) answers
 * exactly what the rows hold.
 */
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { HashRing } from '../../src/shards/ring.js';
import { ingest, onShard, query, specNamed, startGateway, uniqueFamily, type TestGateway } from './helpers/gateway.js';

const shards = inject('shards');
let gateway: TestGateway;

const ROWS = 1000;
const ROW_CHARS = 60_000;
/** Events per ingest request: 100 x 60 KB stays far under the body limit. */
const PER_REQUEST = 100;

beforeAll(async () => {
  gateway = await startGateway(shards);
});
afterAll(async () => {
  await gateway?.close();
});

/** A fresh family name the ring places on `shard`. */
function familyOn(shard: string, prefix: string): string {
  const ring = new HashRing(shards.map((s) => s.name));
  for (;;) {
    const family = uniqueFamily(prefix);
    if (ring.shardFor(family) === shard) return family;
  }
}

describe('staging by bytes', () => {
  it('a cross-shard join over a thousand rows of ~60 KB answers correctly', async () => {
    // The target is the first shard (in configuration order) of the query's tables: the small
    // family's; the big one is staged there.
    const small = familyOn('shard_a', 'bytes_small');
    const big = familyOn('shard_b', 'bytes_big');
    expect((await ingest(gateway, small, { k: 'int' }, Array.from({ length: ROWS }, (_, k) => ({ k })))).status).toBe(200);
    for (let start = 0; start < ROWS; start += PER_REQUEST) {
      const logs = Array.from({ length: PER_REQUEST }, (_, i) => ({ k: start + i, s: String.fromCharCode(97 + ((start + i) % 26)).repeat(ROW_CHARS) }));
      const written = await ingest(gateway, big, { k: 'int', s: 'string' }, logs);
      expect(written.status).toBe(200);
      expect(written.body.shard).toBe('shard_b');
    }
    const answer = await query(gateway, `SELECT COUNT(*) AS n, SUM(LENGTH(b.s)) AS bytes, SUM(b.k) AS ksum FROM ${small} a JOIN ${big} b ON a.k = b.k`);
    expect(answer.status, JSON.stringify(answer.body).slice(0, 500)).toBe(200);
    expect(answer.body.results).toEqual([{ n: ROWS, bytes: ROWS * ROW_CHARS, ksum: (ROWS * (ROWS - 1)) / 2 }]);
    // The same as the source shard says.
    const [direct] = await onShard<{ bytes: string }>(specNamed(shards, 'shard_b'), `SELECT CAST(SUM(LENGTH(s)) AS CHAR) AS bytes FROM \`${big}\``);
    expect(direct?.bytes).toBe(String(ROWS * ROW_CHARS));
  }, 120_000);
});
