/**
 * Scenario 6: cross-shard queries over many stored events, against the same
 * SQL on one server holding all of them.
 *
 * Loading (fast, not measured): the families are created and placed through
 * the gateway (one 1-event PUT each, then emptied), then filled server-side
 * with INSERT ... SELECT from MariaDB's sequence engine (seq_1_to_N; a
 * recursive CTE on MySQL): the typed rows and their raw_logs JSON copies, in
 * 100k-row chunks, on each family's shard and, identically, in one database
 * (`ctx.singleDb`) on the first shard that holds every family and a raw_logs
 * with all their events. This runs before the ingest scenarios, so raw_logs
 * holds exactly these events on both sides.
 */
import type mysql from 'mysql2/promise';
import {
  compare,
  copyTableShape,
  directTarget,
  gatewayCall,
  resultOf,
  shardById,
  withDirect,
  type BenchContext,
  type ScenarioResult,
  type ShardTarget,
} from '../lib/context.js';
import { BREEDS, DOG_FIELDS, makeEvents, quoteId, restIngestBody, restQueryBody } from '../lib/data.js';
import { openDirect, runHttpLoad, runSqlLoad, type LoadResult } from '../lib/load.js';

/** Families per shard holding scenario 6's events. */
const FAMILIES_PER_SHARD = 2;
/** Rows per INSERT ... SELECT statement while loading. */
const LOAD_CHUNK = 100_000;

/** Seconds-insensitive side: runs `amount` queries one after another. */
function fixedAmount(amount: number, run: (amount: number) => Promise<LoadResult>): (seconds: number) => Promise<LoadResult> {
  return () => run(amount);
}

async function hasSequenceEngine(c: mysql.Connection): Promise<boolean> {
  try {
    await c.query('SELECT seq FROM seq_1_to_1');
    return true;
  } catch {
    return false;
  }
}

/** INSERT ... SELECT statements generating events lo..hi of `family`, typed and raw. */
function generatorSql(family: string, lo: number, hi: number, sequence: boolean): string[] {
  const breeds = BREEDS.map((b) => `'${b}'`).join(', ');
  const name = "CONCAT('dog-', seq)";
  const breed = `ELT(1 + seq MOD ${BREEDS.length}, ${breeds})`;
  const weight = '1 + seq MOD 90';
  const from = sequence
    ? `FROM seq_${lo}_to_${hi}`
    : `FROM (WITH RECURSIVE s (seq) AS (SELECT ${lo} UNION ALL SELECT seq + 1 FROM s WHERE seq < ${hi}) SELECT seq FROM s) AS gen`;
  return [
    `INSERT INTO ${quoteId(family)} (name, breed, weight, _ingested_at) SELECT ${name}, ${breed}, ${weight}, NOW(6) ${from}`,
    `INSERT INTO raw_logs (family, log, _ingested_at) SELECT '${family}', JSON_OBJECT('name', ${name}, 'breed', ${breed}, 'weight', ${weight}), NOW(6) ${from}`,
  ];
}

async function fill(c: mysql.Connection, family: string, rows: number, sequence: boolean): Promise<void> {
  if (!sequence) await c.query('SET SESSION cte_max_recursion_depth = 100000000').catch(() => undefined);
  for (let lo = 1; lo <= rows; lo += LOAD_CHUNK) {
    const hi = Math.min(rows, lo + LOAD_CHUNK - 1);
    await c.query('BEGIN');
    for (const sql of generatorSql(family, lo, hi, sequence)) await c.query(sql);
    await c.query('COMMIT');
  }
}

/** Scenario 6 (two rows: 6a raw_logs GROUP BY over every shard, 6b a join of two families on different shards). */
export async function crossShard(ctx: BenchContext): Promise<ScenarioResult[]> {
  const titleA = 'cross-shard: SELECT family, COUNT(*) FROM raw_logs GROUP BY family';
  const titleB = 'cross-shard: join of two families on different shards';
  const base = (id: string, title: string): Pick<ScenarioResult, 'id' | 'title' | 'unit' | 'baselineLabel' | 'target'> => ({
    id,
    title,
    unit: 'ms',
    baselineLabel: 'mysql2 direct, same SQL, one server holding every event',
    target: '<= 3 x single-server time',
  });
  if (ctx.shards.length < 2) {
    return [titleA, titleB].map((t, i) => ({ ...base(`6${'ab'[i] ?? ''}`, t), notes: [], skipped: 'skipped: needs at least 2 shards' }));
  }
  const total = ctx.options.crossShardEvents;
  ctx.log(`scenario 6: placing families and loading ${total} events`);

  // Place families until every shard holds FAMILIES_PER_SHARD of them.
  const byShard = new Map<string, string[]>(ctx.shards.map((s) => [s.id, []]));
  const created: Array<[string, ShardTarget]> = [];
  for (let k = 0; k < 200 && [...byShard.values()].some((list) => list.length < FAMILIES_PER_SHARD); k++) {
    const family = `s6_x${k}_${ctx.stamp}`;
    const answer = await gatewayCall(ctx, 'PUT', '/api/log', restIngestBody(family, DOG_FIELDS, makeEvents(DOG_FIELDS, 1, 6)));
    const shard = shardById(ctx, String(answer['shard']));
    created.push([family, shard]);
    const list = byShard.get(shard.id) ?? [];
    if (list.length < FAMILIES_PER_SHARD) list.push(family);
  }
  const families = ctx.shards.flatMap((s) => (byShard.get(s.id) ?? []).map((f) => [f, s] as [string, ShardTarget]));
  const perFamily = Math.max(1, Math.floor(total / families.length));
  const single = ctx.shards[0] as ShardTarget;

  // Empty the placement rows, copy the shapes to the single server, fill both sides.
  await Promise.all(
    ctx.shards.map((shard) =>
      withDirect(shard, ctx.gatewayDb, async (c) => {
        const mine = created.filter(([, s]) => s.id === shard.id).map(([f]) => f);
        for (const family of mine) await c.query(`DELETE FROM ${quoteId(family)}`);
        if (mine.length > 0) await c.query(`DELETE FROM raw_logs WHERE family IN (${mine.map((f) => `'${f}'`).join(', ')})`);
      }),
    ),
  );
  await copyTableShape(ctx, single, 'raw_logs', ctx.singleDb);
  for (const [family, shard] of families) {
    const ddl = await withDirect(shard, ctx.gatewayDb, async (c) => {
      const [rows] = await c.query<mysql.RowDataPacket[]>(`SHOW CREATE TABLE ${quoteId(family)}`);
      return String(rows[0]?.['Create Table'] ?? '');
    });
    await withDirect(single, ctx.singleDb, (c) => c.query(ddl));
  }
  const started = Date.now();
  const sequence = await withDirect(single, ctx.gatewayDb, hasSequenceEngine);
  await Promise.all([
    ...ctx.shards.map((shard) =>
      withDirect(shard, ctx.gatewayDb, async (c) => {
        for (const [family, s] of families) if (s.id === shard.id) await fill(c, family, perFamily, sequence);
        await c.query('ANALYZE TABLE raw_logs');
      }),
    ),
    withDirect(single, ctx.singleDb, async (c) => {
      for (const [family] of families) await fill(c, family, perFamily, sequence);
      await c.query('ANALYZE TABLE raw_logs');
    }),
  ]);
  const loadSeconds = (Date.now() - started) / 1000;
  ctx.log(`scenario 6: loaded ${perFamily * families.length} events twice in ${loadSeconds.toFixed(1)} s`);

  const [fa, sa] = families[0] as [string, ShardTarget];
  const other = families.find(([, s]) => s.id !== sa.id) as [string, ShardTarget];
  const [fb] = other;
  const queries: Array<[string, string, string]> = [
    ['6a', titleA, 'SELECT family, COUNT(*) FROM raw_logs GROUP BY family'],
    [
      '6b',
      `${titleB} (${fa} on ${sa.id} JOIN ${fb} on ${other[1].id}, ${perFamily} rows each)`,
      `SELECT a.breed, COUNT(*) AS pairs, AVG(b.weight) AS avg_weight FROM ${quoteId(fa)} AS a JOIN ${quoteId(fb)} AS b ON b.id = a.id GROUP BY a.breed ORDER BY a.breed`,
    ],
  ];
  const perRun = ctx.options.quick ? 3 : 1;
  const results: ScenarioResult[] = [];
  for (const [id, title, sql] of queries) {
    ctx.log(`scenario ${id}: ${title}`);
    const connection = await openDirect(directTarget(single, ctx.singleDb));
    try {
      // Same answer on both sides (order-insensitive for the GROUP BY without ORDER BY).
      const viaGateway = (await gatewayCall(ctx, 'POST', '/api/query', restQueryBody(sql)))['results'] as unknown[];
      const [direct] = await connection.query<mysql.RowDataPacket[]>({ sql, rowsAsArray: false });
      const cell = (v: unknown): string => (v !== null && v !== '' && Number.isFinite(Number(v)) ? Number(v).toFixed(6) : String(v));
      const canon = (rows: unknown[]): string => rows.map((r) => JSON.stringify(Object.values(r as object).map(cell))).sort().join('\n');
      const same = canon(viaGateway) === canon(direct as unknown[]);
      const jobs = [{ method: 'POST' as const, path: '/api/query', body: restQueryBody(sql) }];
      const measured = await compare(ctx, {
        unit: 'ms',
        rowsPerOp: 1,
        gateway: fixedAmount(perRun, (amount) => runHttpLoad(ctx.gateway.url, jobs, { connections: 1, seconds: 1, amount, timeoutSeconds: 600 })),
        baseline: fixedAmount(perRun, (amount) =>
          runSqlLoad({ connections: 1, seconds: 0, amount }, async () => {
            await connection.query(sql);
          }),
        ),
      });
      results.push(
        resultOf(base(id, `${title} (${perFamily * families.length} events)`), measured, (ratio) => ratio <= 3, [
          `same result on both sides: ${same ? 'yes' : 'NO'}`,
          `events loaded per side in ${loadSeconds.toFixed(1)} s by INSERT ... SELECT (${sequence ? 'sequence engine' : 'recursive CTE'})`,
        ]),
      );
    } finally {
      await connection.end().catch(() => undefined);
    }
  }
  return results;
}
