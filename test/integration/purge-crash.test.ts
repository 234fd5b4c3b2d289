/**
 * A purge interrupted by a shard crash (kill -9 of its server mid-purge)
 * leaves the family table and raw_logs holding the same events: raw_logs is
 * a view over the rows' `_raw`, deleted with them. The error names the progress made
 * (details.deleted), and running the purge again finishes it; events at or
 * after the cut-off are never deleted. On a private one-server cluster.
 */
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startCluster, startServer, stopServer, type Cluster, type ServerSpec } from '../../scripts/lib/mariadb-cluster.js';
import { api, ingest, onShard, startGateway, uniqueFamily, type ApiResponse, type TestGateway } from './helpers/gateway.js';

const OLD_ROWS = 100_000;
/** Rows 90,000.. share one ingestion time: one large request, which batches must split. */
const GROUPED_FROM = 90_000;
const BATCH = 500;

let cluster: Cluster;
let gateway: TestGateway;
let spec: ServerSpec;

beforeAll(async () => {
  cluster = await startCluster({ count: 1, names: ['crash_a'] });
  spec = cluster.servers[0] as ServerSpec;
  gateway = await startGateway(cluster.servers, ['--purge_interval_seconds=0', `--purge_batch_size=${BATCH}`]);
});
afterAll(async () => {
  await gateway?.close();
  await cluster?.stop();
});

/** 0..99999 from a cross join of digit tables. */
const DIGITS = '(SELECT 0 d UNION ALL SELECT 1 UNION ALL SELECT 2 UNION ALL SELECT 3 UNION ALL SELECT 4 UNION ALL SELECT 5 UNION ALL SELECT 6 UNION ALL SELECT 7 UNION ALL SELECT 8 UNION ALL SELECT 9)';
const SEQUENCE = `SELECT a.d + 10 * b.d + 100 * c.d + 1000 * e.d + 10000 * f.d AS n FROM ${DIGITS} a, ${DIGITS} b, ${DIGITS} c, ${DIGITS} e, ${DIGITS} f`;
/** Old ingestion times: 100 events per second of 2020-01-01, then one group at 2020-06-01. */
const OLD_AT = `IF(n < ${GROUPED_FROM}, TIMESTAMP('2020-01-01 00:00:00') + INTERVAL (n DIV 100) SECOND, TIMESTAMP('2020-06-01 00:00:00.123456'))`;

async function counts(family: string): Promise<{ rows: number; raw: number }> {
  const [rows] = await onShard<{ n: number }>(spec, `SELECT COUNT(*) AS n FROM \`${family}\``);
  const [raw] = await onShard<{ n: number }>(spec, 'SELECT COUNT(*) AS n FROM raw_logs WHERE family = ?', [family]);
  return { rows: Number(rows?.n), raw: Number(raw?.n) };
}

/** Rows of the family table without a raw copy of the same event (`n` is unique per event here). */
async function unmatched(family: string): Promise<number> {
  const [row] = await onShard<{ n: number }>(
    spec,
    `SELECT COUNT(*) AS n FROM \`${family}\` WHERE n NOT IN (SELECT CAST(JSON_VALUE(log, '$.n') AS SIGNED) FROM raw_logs WHERE family = ?)`,
    [family],
  );
  return Number(row?.n);
}

function killServer(): void {
  const pid = Number(readFileSync(spec.pidFile, 'utf8').trim());
  expect(pid).toBeGreaterThan(0);
  process.kill(pid, 'SIGKILL');
}

describe('a purge interrupted by a shard crash', () => {
  it(
    'leaves the family table and raw_logs consistent, reports its progress, and finishes when run again',
    async () => {
      const family = uniqueFamily('crash');
      const schema = { n: 'int', msg: 'string' };
      const recent = await ingest(gateway, family, schema, [
        { n: -1, msg: 'recent' },
        { n: -2, msg: 'recent' },
      ]);
      expect(recent.status).toBe(200);
      // Each row with its raw copy (_raw: raw_logs is a view over it).
      await onShard(
        spec,
        `INSERT INTO \`${family}\` (n, msg, _ingested_at, _raw) SELECT n, 'old', ${OLD_AT}, JSON_OBJECT('n', n, 'msg', 'old') FROM (${SEQUENCE}) s ORDER BY n`,
      );
      expect(await counts(family)).toEqual({ rows: OLD_ROWS + 2, raw: OLD_ROWS + 2 });

      const before = '2021-01-01T00:00:00Z';
      const purging = api(gateway, 'DELETE', `/api/log/${family}?before=${before}`);
      // Wait until a few batches have committed, then crash the server mid-purge.
      let progressed = false;
      for (let i = 0; i < 600 && !progressed; i++) {
        const now = await counts(family);
        progressed = now.rows <= OLD_ROWS + 2 - 3 * BATCH;
        if (!progressed) await new Promise((resolve) => setTimeout(resolve, 20));
      }
      expect(progressed).toBe(true);
      killServer();
      const stopped: ApiResponse = await purging;
      await stopServer(spec);
      await startServer(spec);

      expect(stopped.status, JSON.stringify(stopped.body)).toBe(503);
      expect(stopped.body.error.code).toBe('SHARD_UNAVAILABLE');
      expect(stopped.body.error.message).toMatch(/run it again/);
      const reported = stopped.body.error.deleted as number;
      expect(reported).toBeGreaterThanOrEqual(3 * BATCH);
      expect(stopped.body.error.deletedRaw).toBe(reported);

      // After crash recovery: both tables hold the same events.
      const after = await counts(family);
      expect(after.rows).toBe(after.raw);
      expect(after.rows).toBeLessThanOrEqual(OLD_ROWS + 2 - reported);
      expect(after.rows).toBeGreaterThan(2);
      expect(await unmatched(family)).toBe(0);

      // Run again (the first try may meet a pooled connection that died with the server).
      let finished: ApiResponse | undefined;
      for (let i = 0; i < 3 && finished?.status !== 200; i++) finished = await api(gateway, 'DELETE', `/api/log/${family}?before=${before}`);
      expect(finished?.status, JSON.stringify(finished?.body)).toBe(200);
      expect(finished?.body).toMatchObject({ family, deleted: after.rows - 2, deletedRaw: after.raw - 2 });
      expect(await counts(family)).toEqual({ rows: 2, raw: 2 });
      const kept = await onShard<{ n: number }>(spec, `SELECT n FROM \`${family}\` ORDER BY n`);
      expect(kept.map((r) => Number(r.n))).toEqual([-2, -1]);
    },
    120_000,
  );

  it('deletes exactly the events before the cut-off, batch by batch, splitting one large request', async () => {
    const family = uniqueFamily('exact');
    const schema = { n: 'int' };
    expect((await ingest(gateway, family, schema, [{ n: -1 }])).status).toBe(200);
    // 1,700 events in one group (one request's time), 300 spread over older times.
    const at = `IF(n < 300, TIMESTAMP('2020-01-01') + INTERVAL n SECOND, TIMESTAMP('2020-02-01 00:00:00.000001'))`;
    await onShard(spec, `INSERT INTO \`${family}\` (n, _ingested_at, _raw) SELECT n, ${at}, JSON_OBJECT('n', n) FROM (${SEQUENCE}) s WHERE n < 2000 ORDER BY n`);
    // The cut-off one microsecond after the group: the group goes, the event at the cut-off stays.
    await onShard(spec, `INSERT INTO \`${family}\` (n, _ingested_at, _raw) VALUES (5000, '2020-02-01 00:00:00.000002', '{"n":5000}')`);
    const answer = await api(gateway, 'DELETE', `/api/log/${family}?before=2020-02-01T00:00:00.000002Z`);
    expect(answer.status, JSON.stringify(answer.body)).toBe(200);
    expect(answer.body).toMatchObject({ deleted: 2000, deletedRaw: 2000 });
    expect(await counts(family)).toEqual({ rows: 2, raw: 2 });
    expect(await unmatched(family)).toBe(0);
  });
});
