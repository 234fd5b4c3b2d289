/**
 * The raw copy in the family row and raw_logs as a view: a shard left by an
 * older gateway (a raw_logs base table, a family table without `_raw`) is
 * migrated at bootstrap and first use: the old table is renamed
 * databalancer_raw_logs_legacy and stays readable and purgeable through the
 * view, the family table gains `_raw`, and new families join the view. On a
 * database of its own on one server.
 */
import { randomBytes } from 'node:crypto';
import { afterAll, describe, expect, inject, it } from 'vitest';
import { rawLogsTableSql } from '../../src/schema/internal-tables.js';
import { api, ingest, onShard, query, specNamed, startGateway, tableExists, uniqueFamily, type TestGateway } from './helpers/gateway.js';

const shards = inject('shards');
const spec = specNamed(shards, 'shard_c');
const database = `layout_${randomBytes(4).toString('hex')}`;
const gateways: TestGateway[] = [];

afterAll(async () => {
  await Promise.all(gateways.map((g) => g.close()));
  await onShard(spec, `DROP DATABASE IF EXISTS \`${database}\``, [], null);
});

async function start(): Promise<TestGateway> {
  const gateway = await startGateway([spec], ['--purge_interval_seconds=0'], { database });
  gateways.push(gateway);
  return gateway;
}

function logsOf(rows: Array<{ family: string; log: { n: number } }>, family: string): number[] {
  return rows
    .filter((r) => r.family === family)
    .map((r) => r.log.n)
    .sort((a, b) => a - b);
}

describe('raw copy layout', () => {
  it('migrates an older shard: the old raw_logs rows stay readable and purgeable, old tables gain _raw, new families join the view', async () => {
    const family = uniqueFamily('legacy');
    const first = await start();
    expect((await ingest(first, family, { n: 'int' }, [{ n: 0 }])).status).toBe(200);
    const [view] = await onShard<{ type: string }>(spec, 'SELECT TABLE_TYPE AS type FROM information_schema.TABLES WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ?', [database, 'raw_logs'], null);
    expect(view?.type).toBe('VIEW');
    await first.close();
    gateways.pop();

    // What an older gateway left: a raw_logs table with its own copies, a family table without _raw.
    await onShard(spec, 'DROP VIEW raw_logs', [], database);
    await onShard(spec, rawLogsTableSql(), [], database);
    await onShard(spec, `ALTER TABLE \`${family}\` DROP COLUMN _raw`, [], database);
    await onShard(spec, `DELETE FROM \`${family}\``, [], database);
    await onShard(spec, `INSERT INTO \`${family}\` (n, _ingested_at) VALUES (1, '2020-01-01'), (2, UTC_TIMESTAMP(6))`, [], database);
    await onShard(
      spec,
      `INSERT INTO raw_logs (family, log, _ingested_at) VALUES (?, '{"n":1}', '2020-01-01'), (?, '{"n":2}', UTC_TIMESTAMP(6))`,
      [family, family],
      database,
    );

    const second = await start();
    const before = await query(second, 'SELECT * FROM raw_logs');
    expect(before.status, JSON.stringify(before.body)).toBe(200);
    expect(logsOf(before.body.results, family)).toEqual([1, 2]);
    expect(await tableExists(spec, 'databalancer_raw_logs_legacy', database)).toBe(true);

    // First use of the old table adds _raw; the new event's copy is in its row.
    const added = await ingest(second, family, { n: 'int' }, [{ n: 3 }]);
    expect(added.status, JSON.stringify(added.body)).toBe(200);
    const raws = await onShard<{ n: number; raw: string | null }>(spec, `SELECT n, _raw AS raw FROM \`${family}\` ORDER BY n`, [], database);
    expect(raws).toEqual([
      { n: 1, raw: null },
      { n: 2, raw: null },
      { n: 3, raw: '{"n":3}' },
    ]);
    const after = await query(second, 'SELECT * FROM raw_logs');
    expect(logsOf(after.body.results, family)).toEqual([1, 2, 3]);

    // A purge deletes the old row and its legacy raw copy, nothing at or after the cut-off.
    const purged = await api(second, 'DELETE', `/api/log/${family}?before=2021-01-01T00:00:00Z`);
    expect(purged.status, JSON.stringify(purged.body)).toBe(200);
    expect(purged.body).toMatchObject({ deleted: 1, deletedRaw: 1 });
    const left = await query(second, 'SELECT * FROM raw_logs');
    expect(logsOf(left.body.results, family)).toEqual([2, 3]);

    // A new family is in the view as soon as it is placed.
    const other = uniqueFamily('layout_new');
    expect((await ingest(second, other, { n: 'int' }, [{ n: 7 }])).status).toBe(200);
    const grouped = await query(second, 'SELECT family, COUNT(*) AS c FROM raw_logs GROUP BY family ORDER BY family');
    expect(grouped.status).toBe(200);
    expect(grouped.body.results).toEqual(
      [
        { family, c: 2 },
        { family: other, c: 1 },
      ].sort((a, b) => (a.family < b.family ? -1 : 1)),
    );
    const typed = await query(second, `SELECT r.id, r.log, f.n FROM raw_logs r JOIN ${other} f ON f.id = r.id WHERE r.family = '${other}'`);
    expect(typed.status, JSON.stringify(typed.body)).toBe(200);
    expect(typed.body.results).toEqual([{ id: expect.any(Number), log: { n: 7 }, n: 7 }]);
  }, 60_000);
});
