/**
 * Two gateways with the purger on, against the same shards and catalog,
 * never purge one family at the same time: the catalog lease `purge:<family>`
 * serializes them. Each purger reports when it held a family's lease; the
 * intervals of one family never overlap, and together they delete every old
 * row exactly once.
 */
import { afterAll, beforeAll, expect, inject, it } from 'vitest';
import { api, ingest, onShard, startGateway, uniqueFamily, type TestGateway } from './helpers/gateway.js';
import type { PurgerEvent } from '../../src/services/purger.js';
import { LEASES_TABLE } from '../../src/shards/catalog.js';

const shards = inject('shards');
const OLD_ROWS = 20_000;
const FAMILIES = 3;

let first: TestGateway;
let second: TestGateway;
beforeAll(async () => {
  // Small batches make each purge take many batches (and lease renewals), so the two overlap in time.
  const flags = ['--purge_interval_seconds=1', '--purge_batch_size=250'];
  [first, second] = await Promise.all([startGateway(shards, flags), startGateway(shards, flags)]);
});
afterAll(async () => {
  await Promise.all([first?.close(), second?.close()]);
});

const DIGITS = '(SELECT 0 d UNION ALL SELECT 1 UNION ALL SELECT 2 UNION ALL SELECT 3 UNION ALL SELECT 4 UNION ALL SELECT 5 UNION ALL SELECT 6 UNION ALL SELECT 7 UNION ALL SELECT 8 UNION ALL SELECT 9)';
const SEQUENCE = `SELECT a.d + 10 * b.d + 100 * c.d + 1000 * e.d + 10000 * f.d AS n FROM ${DIGITS} a, ${DIGITS} b, ${DIGITS} c, ${DIGITS} e, (SELECT 0 d UNION ALL SELECT 1) f`;

it(
  'two gateways never purge one family concurrently, and delete each old row once',
  async () => {
    const families = Array.from({ length: FAMILIES }, () => uniqueFamily('purge_lease'));
    const specs = new Map<string, (typeof shards)[number]>();
    for (const family of families) {
      const answer = await ingest(first, family, { n: 'int' }, [{ n: -1 }]);
      expect(answer.status).toBe(200);
      const spec = shards.find((s) => s.name === answer.body.shard)!;
      specs.set(family, spec);
      // Each row with its raw copy (_raw: raw_logs is a view over it).
      await onShard(spec, `INSERT INTO \`${family}\` (n, _ingested_at, _raw) SELECT n, '2020-01-01', JSON_OBJECT('n', n) FROM (${SEQUENCE}) s`);
    }

    const events: PurgerEvent[] = [];
    const mine = new Set(families);
    for (const gateway of [first, second]) {
      gateway.app.purger!.subscribe((event) => {
        if (mine.has(event.family)) events.push(event);
      });
    }
    for (const family of families) {
      expect((await api(second, 'PUT', `/api/families/${family}/retention`, { retention: '30d' })).status).toBe(200);
    }
    // A third holder takes the first family's lease (as a gateway would, once it is free), then both
    // gateways run a round: each must be turned away from that family, whatever the timing under load.
    const catalog = shards[0]!;
    const held = `purge:${families[0]}`;
    for (const started = Date.now(); ; ) {
      await onShard(
        catalog,
        `INSERT INTO ${LEASES_TABLE} (name, holder, expires_at) VALUES (?, 'the-test', UTC_TIMESTAMP(6) + INTERVAL 60 SECOND)
         ON DUPLICATE KEY UPDATE holder = IF(expires_at < UTC_TIMESTAMP(6) OR holder = VALUES(holder), VALUES(holder), holder),
           expires_at = IF(holder = VALUES(holder), VALUES(expires_at), expires_at)`,
        [held],
      );
      const [row] = await onShard<{ holder: string }>(catalog, `SELECT holder FROM ${LEASES_TABLE} WHERE name = ?`, [held]);
      if (row?.holder === 'the-test') break;
      if (Date.now() - started > 60_000) throw new Error(`the test could not take ${held}`);
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    await Promise.all([first.app.purger!.runOnce(), second.app.purger!.runOnce()]);
    const turnedAway = new Set(events.filter((e) => e.type === 'busy' && e.family === families[0]).map((e) => e.holder));
    expect(turnedAway.size).toBe(2);
    await onShard(catalog, `DELETE FROM ${LEASES_TABLE} WHERE name = ? AND holder = 'the-test'`, [held]);

    const deadline = Date.now() + 60_000;
    for (;;) {
      const counts = await Promise.all(
        families.map(async (family) => {
          const [row] = await onShard<{ c: number }>(specs.get(family)!, `SELECT COUNT(*) AS c FROM \`${family}\``);
          const [raw] = await onShard<{ c: number }>(specs.get(family)!, 'SELECT COUNT(*) AS c FROM raw_logs WHERE family = ?', [family]);
          return Number(row?.c) + Number(raw?.c);
        }),
      );
      if (counts.every((c) => c === 2) || Date.now() > deadline) break;
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
    // A couple more timer rounds on both gateways after the work is done.
    await new Promise((resolve) => setTimeout(resolve, 2_500));

    for (const family of families) {
      const spec = specs.get(family)!;
      expect(await onShard(spec, `SELECT n FROM \`${family}\``)).toEqual([{ n: -1 }]);
      expect(await onShard(spec, 'SELECT id FROM raw_logs WHERE family = ?', [family])).toHaveLength(1);

      const held = events
        .filter((e): e is Extract<PurgerEvent, { type: 'purged' }> => e.type === 'purged' && e.family === family)
        .sort((a, b) => a.leasedAt - b.leasedAt);
      expect(held.length).toBeGreaterThan(0);
      for (let i = 1; i < held.length; i++) {
        const before = held[i - 1]!;
        const after = held[i]!;
        // The next lease was taken only after the previous holder was done.
        expect(after.leasedAt, `${family}: ${before.holder} and ${after.holder} overlap`).toBeGreaterThanOrEqual(before.releasedAt);
      }
      // Every old row went exactly once (other test files' gateways may take a round, never a row twice).
      const deleted = held.reduce((sum, e) => sum + e.outcome.deleted, 0);
      const deletedRaw = held.reduce((sum, e) => sum + e.outcome.deletedRaw, 0);
      expect(deleted).toBeLessThanOrEqual(OLD_ROWS);
      expect(deletedRaw).toBeLessThanOrEqual(OLD_ROWS);
      expect(events.filter((e) => e.type === 'failed')).toEqual([]);
    }
    // Both gateways took part, and the lease turned at least one of them away at least once.
    const holders = new Set(events.map((e) => e.holder));
    expect(holders.size).toBe(2);
    expect(events.some((e) => e.type === 'busy')).toBe(true);
  },
  120_000,
);
