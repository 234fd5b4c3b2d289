/**
 * `npx tsx bench/layouts.ts [-- flags]`: the storage-layout experiment. With
 * mysql2 alone on one server (a throwaway MariaDB/MySQL unless --server is
 * given), measures:
 *
 * 1. Ingest: the same pre-serialised 1000-event batches (narrow: the dog
 *    shape; wide: scenario 3's 20 fields), 4 connections, BEGIN; INSERT
 *    typed rows; [INSERT raw copies;] COMMIT, into
 *    (a)  today's gateway shape (src/schema: family table with INVISIBLE
 *         `_ingested_at` and its index, raw_logs with (family, _ingested_at));
 *    (b)  the same without the secondary indexes;
 *    (c1) the raw copy in the family row, `_raw LONGTEXT INVISIBLE`, no
 *         raw_logs, `_ingested_at` without an index;
 *    (c2) as c1 with `_raw JSON` (MariaDB: LONGTEXT + json_valid CHECK);
 *    (d)  the hand-written loader's plain shape (id + typed columns; plain
 *         raw_logs(id, family VARCHAR(64), log LONGTEXT));
 *    (e)  no raw copy at all (plain typed table only), for reference;
 *    as ratios to (d), rounds alternated (order rotated every round), every
 *    layout's tables emptied before its run, medians.
 * 2. Purge of half of --purge-rows rows: today's index-based batches (the
 *    SELECT ids by `_ingested_at` then DELETE by id of src/shards/purge-batch.ts,
 *    on the family table and its raw_logs rows) vs a primary-key cut-off
 *    (binary search on the PK for the first id with `_ingested_at >=` the
 *    cut-off, then DELETE ... WHERE id < X ORDER BY id LIMIT n batches) on
 *    the c1 shape.
 * 3. A raw_logs VIEW (UNION ALL over 20 c1 family tables' `_raw`) against
 *    today's raw_logs table holding the same rows: SELECT * ... WHERE family
 *    = 'x' and SELECT family, COUNT(*) ... GROUP BY family, alternated, medians.
 *
 * Prints markdown tables and writes the raw figures to
 * bench/results/layouts-<timestamp>.json. See bench/README.md.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import type mysql from 'mysql2/promise';
import { startCluster, type Cluster } from '../scripts/lib/mariadb-cluster.js';
import { rawLogsTableSql } from '../src/schema/internal-tables.js';
import { createFamilyTableSql } from '../src/schema/table-ddl.js';

/**
 * The family table shape before the layout change (layout (a), the reference
 * every other layout is built from): `_ingested_at` indexed, no `_raw`.
 */
function oldFamilyTableSql(name: string, fields: Parameters<typeof createFamilyTableSql>[1]): string {
  const ddl = createFamilyTableSql(name, fields).replace(/,\n  `_raw` LONGTEXT NULL INVISIBLE/, '');
  return ddl.replace(/\n\) ENGINE=/, ',\n  KEY `_ingested_at` (`_ingested_at`)\n) ENGINE=');
}
import { DOG_FIELDS, WIDE_FIELDS, makeBatches, quoteId, sqlDateTime, type FieldSpec, type LogEvent } from './lib/data.js';
import { openDirect, runSqlLoad, stopAllLoads, type DirectTarget, type LoadResult } from './lib/load.js';
import { plainRawLogsSql, plainTableSql } from './lib/loader.js';
import { describeMachine } from './lib/report.js';
import { median } from './lib/stats.js';
import { escape } from 'mysql2';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const RESULTS_DIR = join(ROOT, 'bench', 'results');

interface Options {
  quick: boolean;
  server?: DirectTarget | undefined;
  runs: number;
  runSeconds: number;
  warmupSeconds: number;
  purgeRows: number;
  viewRowsPerFamily: number;
  shapes: Array<'narrow' | 'wide'>;
  parts: Set<string>;
}

const HELP = `npx tsx bench/layouts.ts [-- flags]

  --quick                 sanity run: 1 short run per layout, 50k purge rows, 2k rows per view family
  --server=mysql://user:pass@host:port   use this server (creates and drops bench_layouts_<stamp>)
  --runs=N                measured rounds (default 3, quick 1)
  --run-seconds=N         seconds per layout per round (default 6, quick 2)
  --warmup-seconds=N      warm-up per layout (default 1, quick 0.5)
  --purge-rows=N          rows in the purge experiment (default 400000, quick 50000)
  --view-rows=N           rows per family in the view experiment, 20 families (default 10000, quick 2000)
  --shapes=narrow,wide    ingest shapes (default both)
  --parts=ingest,purge,view  which parts (default all)
`;

function parseOptions(argv: readonly string[]): Options | 'help' {
  const values = new Map<string, string>();
  for (const arg of argv) {
    const m = /^--([a-z-]+)(?:=(.*))?$/.exec(arg);
    if (m === null) throw new Error(`unexpected argument ${arg}\n\n${HELP}`);
    values.set(m[1] as string, m[2] ?? 'true');
  }
  if (values.has('help')) return 'help';
  const known = new Set(['quick', 'server', 'runs', 'run-seconds', 'warmup-seconds', 'purge-rows', 'view-rows', 'shapes', 'parts']);
  for (const k of values.keys()) if (!known.has(k)) throw new Error(`unknown flag --${k}\n\n${HELP}`);
  const quick = values.get('quick') === 'true';
  const num = (name: string, fallback: number): number => {
    const text = values.get(name);
    if (text === undefined) return fallback;
    const n = Number(text);
    if (!Number.isFinite(n) || n <= 0) throw new Error(`--${name}=${text} must be a positive number`);
    return n;
  };
  let server: DirectTarget | undefined;
  const serverText = values.get('server');
  if (serverText !== undefined) {
    const m = /^(?:mysql:\/\/|mariadb:\/\/)?(?:([^:@/]*)(?::([^@/]*))?@)?([^:/]+)(?::(\d+))?\/?$/.exec(serverText);
    if (m === null) throw new Error(`--server=${serverText} is not mysql://user:pass@host:port`);
    server = {
      user: decodeURIComponent(m[1] !== undefined && m[1] !== '' ? m[1] : 'root'),
      password: decodeURIComponent(m[2] ?? ''),
      host: m[3] ?? '127.0.0.1',
      port: Number(m[4] ?? '3306'),
      database: '',
    };
  }
  const shapes = (values.get('shapes') ?? 'narrow,wide').split(',').filter((s) => s !== '');
  for (const s of shapes) if (s !== 'narrow' && s !== 'wide') throw new Error(`--shapes: unknown shape ${s} (narrow, wide)`);
  const parts = new Set((values.get('parts') ?? 'ingest,purge,view').split(',').filter((s) => s !== ''));
  for (const p of parts) if (!['ingest', 'purge', 'view'].includes(p)) throw new Error(`--parts: unknown part ${p} (ingest, purge, view)`);
  return {
    quick,
    server,
    runs: Math.round(num('runs', quick ? 1 : 3)),
    runSeconds: num('run-seconds', quick ? 2 : 6),
    warmupSeconds: num('warmup-seconds', quick ? 0.5 : 1),
    purgeRows: Math.round(num('purge-rows', quick ? 50_000 : 400_000)),
    viewRowsPerFamily: Math.round(num('view-rows', quick ? 2000 : 10_000)),
    shapes: shapes as Array<'narrow' | 'wide'>,
    parts,
  };
}

function log(message: string): void {
  process.stderr.write(`[layouts ${new Date().toISOString().slice(11, 19)}] ${message}\n`);
}

// ---------------------------------------------------------------- layouts

/** One layout: its DDL and, per batch, the statements of one ingest transaction. */
interface Layout {
  key: string;
  title: string;
  tables: string[];
  ddl: string[];
  /** Pre-serialised statements of one transaction per distinct batch. */
  batches: string[][];
}

/** Strips the secondary KEY lines of a CREATE TABLE (the primary key stays). */
function withoutSecondaryKeys(ddl: string): string {
  return ddl.replace(/,\n\s*KEY [^\n]*(?=\n|,)/g, '');
}

function sqlValue(field: FieldSpec, value: unknown): string {
  if (value === null || value === undefined) return 'NULL';
  if (field.type === 'timestamp') return escape(sqlDateTime(new Date(String(value))));
  if (field.type === 'json') return escape(JSON.stringify(value));
  return escape(value as string | number | boolean);
}

/** The layouts for one shape, with table names suffixed by `tag`. */
function buildLayouts(tag: string, fields: readonly FieldSpec[], batches: readonly LogEvent[][]): Layout[] {
  const now = escape(sqlDateTime(new Date()));
  const cols = fields.map((f) => quoteId(f.name));
  const typed = (event: LogEvent): string => fields.map((f) => sqlValue(f, event[f.name])).join(',');
  const family = (key: string): string => `fam_${key}_${tag}`;
  const raw = (key: string): string => `raw_${key}_${tag}`;
  const layouts: Layout[] = [];

  const todayFamily = (key: string): string => oldFamilyTableSql(family(key), fields).replace('CREATE TABLE IF NOT EXISTS', 'CREATE TABLE');
  const todayRaw = (key: string): string => rawLogsTableSql({ name: raw(key) }).replace('CREATE TABLE IF NOT EXISTS', 'CREATE TABLE');
  const todayStatements = (key: string, events: readonly LogEvent[]): string[] => {
    const f = escape(family(key));
    return [
      `INSERT INTO ${quoteId(family(key))} (${[...cols, '`_ingested_at`'].join(', ')}) VALUES ${events.map((e) => `(${typed(e)},${now})`).join(',')}`,
      `INSERT INTO ${quoteId(raw(key))} (log, family, _ingested_at) VALUES ${events.map((e) => `(${escape(JSON.stringify(e))},${f},${now})`).join(',')}`,
    ];
  };
  layouts.push({
    key: 'a',
    title: "today's gateway shape (family table + `_ingested_at` index; raw_logs JSON + (family, _ingested_at) index)",
    tables: [family('a'), raw('a')],
    ddl: [todayFamily('a'), todayRaw('a')],
    batches: batches.map((b) => todayStatements('a', b)),
  });
  layouts.push({
    key: 'b',
    title: '(a) without the secondary indexes',
    tables: [family('b'), raw('b')],
    ddl: [withoutSecondaryKeys(todayFamily('b')), withoutSecondaryKeys(todayRaw('b'))],
    batches: batches.map((b) => todayStatements('b', b)),
  });
  for (const [key, type, title] of [
    ['c1', 'LONGTEXT', 'raw copy in the family row: `_raw LONGTEXT INVISIBLE`, no raw_logs, `_ingested_at` without index'],
    ['c2', 'JSON', 'as c1 with `_raw JSON INVISIBLE` (json_valid CHECK)'],
  ] as const) {
    const ddl = withoutSecondaryKeys(todayFamily(key)).replace(
      /(`_ingested_at` [^\n]*INVISIBLE),/,
      `$1,\n  \`_raw\` ${type} NULL INVISIBLE,`,
    );
    layouts.push({
      key,
      title,
      tables: [family(key)],
      ddl: [ddl],
      batches: batches.map((events) => [
        `INSERT INTO ${quoteId(family(key))} (${[...cols, '`_ingested_at`', '`_raw`'].join(', ')}) VALUES ${events
          .map((e) => `(${typed(e)},${now},${escape(JSON.stringify(e))})`)
          .join(',')}`,
      ]),
    });
  }
  const plainStatements = (key: string, events: readonly LogEvent[], withRaw: boolean): string[] => {
    const statements = [`INSERT INTO ${quoteId(family(key))} (${cols.join(', ')}) VALUES ${events.map((e) => `(${typed(e)})`).join(',')}`];
    const f = escape(family(key));
    if (withRaw) statements.push(`INSERT INTO ${quoteId(raw(key))} (family, log) VALUES ${events.map((e) => `(${f},${escape(JSON.stringify(e))})`).join(',')}`);
    return statements;
  };
  layouts.push({
    key: 'd',
    title: "the hand-written loader's plain shape (id + typed columns; raw_logs(id, family VARCHAR(64), log LONGTEXT))",
    tables: [family('d'), raw('d')],
    ddl: [plainTableSql(family('d'), fields), plainRawLogsSql(raw('d'))],
    batches: batches.map((b) => plainStatements('d', b, true)),
  });
  layouts.push({
    key: 'e',
    title: 'no raw copy at all (plain typed table only; reference)',
    tables: [family('e')],
    ddl: [plainTableSql(family('e'), fields)],
    batches: batches.map((b) => plainStatements('e', b, false)),
  });
  return layouts;
}

interface LayoutFigures {
  key: string;
  title: string;
  runs: LoadResult[];
  rowsPerSecond: number;
  ratioToD?: number | undefined;
  roundRatiosToD?: number[] | undefined;
}

async function ingestPart(options: Options, target: DirectTarget, shape: 'narrow' | 'wide', admin: mysql.Connection): Promise<LayoutFigures[]> {
  const fields = shape === 'narrow' ? DOG_FIELDS : WIDE_FIELDS;
  const batches = makeBatches(fields, 8, 1000, shape === 'narrow' ? 1 : 3);
  const layouts = buildLayouts(shape, fields, batches);
  for (const layout of layouts) {
    for (const table of layout.tables) await admin.query(`DROP TABLE IF EXISTS ${quoteId(table)}`);
    for (const ddl of layout.ddl) await admin.query(ddl);
  }
  const connections = await Promise.all(Array.from({ length: 4 }, () => openDirect(target)));
  const run = async (layout: Layout, seconds: number): Promise<LoadResult> => {
    for (const table of layout.tables) await admin.query(`TRUNCATE TABLE ${quoteId(table)}`);
    return runSqlLoad({ connections: 4, seconds }, async (worker, sequence) => {
      const c = connections[worker] as mysql.Connection;
      const statements = layout.batches[(sequence + worker) % layout.batches.length] as string[];
      await c.query('BEGIN');
      try {
        for (const sql of statements) await c.query(sql);
        await c.query('COMMIT');
      } catch (error) {
        await c.query('ROLLBACK').catch(() => undefined);
        throw error;
      }
    });
  };
  try {
    log(`ingest ${shape}: warm-up`);
    for (const layout of layouts) await run(layout, options.warmupSeconds);
    const runs = new Map<string, LoadResult[]>(layouts.map((l) => [l.key, []]));
    for (let round = 0; round < options.runs; round++) {
      const order = layouts.map((_, i) => layouts[(i + round) % layouts.length] as Layout);
      log(`ingest ${shape}: round ${round + 1}/${options.runs} (${order.map((l) => l.key).join(' ')})`);
      for (const layout of order) {
        const result = await run(layout, options.runSeconds);
        if (result.errors > 0) log(`  ${layout.key}: ${result.errors} errors, first: ${result.firstError ?? '?'}`);
        runs.get(layout.key)?.push(result);
      }
    }
    const figures = layouts.map((l): LayoutFigures => {
      const list = runs.get(l.key) ?? [];
      return { key: l.key, title: l.title, runs: list, rowsPerSecond: median(list.map((r) => (r.ops * 1000) / r.seconds)) };
    });
    const d = figures.find((f) => f.key === 'd');
    for (const f of figures) {
      f.ratioToD = f.rowsPerSecond / (d?.rowsPerSecond ?? Number.NaN);
      // The same round's (d) run as the reference, then the median over rounds: steadier when the machine's load moves between rounds.
      f.roundRatiosToD = f.runs.map((r, i) => {
        const ref = d?.runs[i];
        return ref === undefined || ref.ops === 0 ? Number.NaN : (r.ops / r.seconds) / (ref.ops / ref.seconds);
      });
    }
    for (const layout of layouts) for (const table of layout.tables) await admin.query(`DROP TABLE IF EXISTS ${quoteId(table)}`);
    return figures;
  } finally {
    await Promise.all(connections.map((c) => c.end().catch(() => undefined)));
  }
}

// ---------------------------------------------------------------- purge

interface PurgeFigures {
  rows: number;
  deleted: { today: number; pkCutoff: number };
  ms: { today: number[]; pkCutoff: number[]; binarySearch: number[] };
  probes: number;
  batchSize: number;
}

const BREED_SQL = "ELT(1 + seq % 10, 'beagle','labrador','poodle','boxer','husky','collie','pug','terrier','spaniel','greyhound')";

/** Fills today's shape (family table + raw_logs) and the c1 shape with `rows` identical events, 1000 per ingestion time (one second apart). */
async function fillPurgeTables(c: mysql.Connection, rows: number): Promise<void> {
  const fields = DOG_FIELDS;
  for (const t of ['purge_today', 'purge_today_raw', 'purge_c1']) await c.query(`DROP TABLE IF EXISTS ${t}`);
  await c.query(oldFamilyTableSql('purge_today', fields));
  await c.query(rawLogsTableSql({ name: 'purge_today_raw' }));
  await c.query(
    withoutSecondaryKeys(oldFamilyTableSql('purge_c1', fields)).replace(/(`_ingested_at` [^\n]*INVISIBLE),/, '$1,\n  `_raw` LONGTEXT NULL INVISIBLE,'),
  );
  const at = "TIMESTAMP'2024-01-01 00:00:00' + INTERVAL (seq DIV 1000) SECOND";
  const json = `JSON_OBJECT('name', CONCAT('dog-', seq), 'breed', ${BREED_SQL}, 'weight', 1 + seq % 90)`;
  for (let start = 1; start <= rows; start += 100_000) {
    const end = Math.min(rows, start + 99_999);
    const seq = `seq_${start}_to_${end}`;
    await c.query(`INSERT INTO purge_today (name, breed, weight, _ingested_at) SELECT CONCAT('dog-', seq), ${BREED_SQL}, 1 + seq % 90, ${at} FROM ${seq}`);
    await c.query(`INSERT INTO purge_today_raw (family, log, _ingested_at) SELECT 'purge_today', ${json}, ${at} FROM ${seq}`);
    await c.query(`INSERT INTO purge_c1 (name, breed, weight, _ingested_at, _raw) SELECT CONCAT('dog-', seq), ${BREED_SQL}, 1 + seq % 90, ${at}, ${json} FROM ${seq}`);
  }
  for (const t of ['purge_today', 'purge_today_raw', 'purge_c1']) await c.query(`ANALYZE TABLE ${t}`);
}

/** Today's purge (src/shards/purge-batch.ts): ids by the `_ingested_at` index, then DELETE by id; family table and raw_logs. */
async function purgeToday(c: mysql.Connection, cutoff: string, batchSize: number): Promise<number> {
  let deleted = 0;
  for (const [table, raw] of [
    ['purge_today', false],
    ['purge_today_raw', true],
  ] as const) {
    const where = raw ? 'family = ? AND _ingested_at < ?' : '_ingested_at < ?';
    const bindings = raw ? ['purge_today', cutoff] : [cutoff];
    for (let i = 0; i < 100_000; i++) {
      const [ids] = await c.query<mysql.RowDataPacket[]>(`SELECT id FROM ${table} WHERE ${where} ORDER BY _ingested_at LIMIT ?`, [...bindings, batchSize]);
      if (ids.length === 0) break;
      const list = ids.map((r) => Number(r['id']));
      const [result] = await c.query<mysql.ResultSetHeader>(`DELETE FROM ${table} WHERE id IN (${list.join(',')}) AND ${where}`, bindings);
      if (!raw) deleted += result.affectedRows;
    }
  }
  return deleted;
}

/**
 * The first id whose `_ingested_at` is at or after `cutoff`, by binary search
 * on the primary key (valid while `_ingested_at` never decreases with id);
 * MAX(id) + 1 when there is none. Returns the probes made.
 */
async function firstIdAtOrAfter(c: mysql.Connection, table: string, cutoff: string): Promise<{ id: number; probes: number }> {
  const [bounds] = await c.query<mysql.RowDataPacket[]>(`SELECT MIN(id) AS lo, MAX(id) AS hi FROM ${table}`);
  let lo = Number(bounds[0]?.['lo'] ?? 0);
  let hi = Number(bounds[0]?.['hi'] ?? -1) + 1;
  let probes = 1;
  while (lo < hi) {
    const mid = lo + Math.floor((hi - lo) / 2);
    const [rows] = await c.query<mysql.RowDataPacket[]>(`SELECT id, _ingested_at < ? AS before_cutoff FROM ${table} WHERE id >= ? ORDER BY id LIMIT 1`, [cutoff, mid]);
    probes++;
    const row = rows[0];
    if (row === undefined || Number(row['before_cutoff']) === 0) hi = mid;
    else lo = Number(row['id']) + 1;
  }
  return { id: lo, probes };
}

async function purgeByPk(c: mysql.Connection, cutoff: string, batchSize: number): Promise<{ deleted: number; searchMs: number; probes: number }> {
  const t0 = performance.now();
  const { id, probes } = await firstIdAtOrAfter(c, 'purge_c1', cutoff);
  const searchMs = performance.now() - t0;
  let deleted = 0;
  for (let i = 0; i < 100_000; i++) {
    const [result] = await c.query<mysql.ResultSetHeader>('DELETE FROM purge_c1 WHERE id < ? ORDER BY id LIMIT ?', [id, batchSize]);
    deleted += result.affectedRows;
    if (result.affectedRows < batchSize) break;
  }
  return { deleted, searchMs, probes };
}

async function purgePart(options: Options, c: mysql.Connection): Promise<PurgeFigures> {
  const batchSize = 5000; // purge_batch_size's default
  const reps = options.quick ? 1 : 3;
  const figures: PurgeFigures = { rows: options.purgeRows, deleted: { today: 0, pkCutoff: 0 }, ms: { today: [], pkCutoff: [], binarySearch: [] }, probes: 0, batchSize };
  // Half the rows: the cut-off is the ingestion time of the middle batch.
  const cutoff = `2024-01-01 00:00:00`;
  const half = Math.floor(options.purgeRows / 2000);
  const cutoffSql = new Date(Date.parse(`${cutoff}Z`) + half * 1000).toISOString().slice(0, 19).replace('T', ' ');
  for (let rep = 0; rep < reps; rep++) {
    log(`purge: filling ${options.purgeRows} rows (rep ${rep + 1}/${reps})`);
    await fillPurgeTables(c, options.purgeRows);
    const order = rep % 2 === 0 ? ['today', 'pk'] : ['pk', 'today'];
    for (const which of order) {
      const t0 = performance.now();
      if (which === 'today') {
        figures.deleted.today = await purgeToday(c, cutoffSql, batchSize);
        figures.ms.today.push(performance.now() - t0);
      } else {
        const r = await purgeByPk(c, cutoffSql, batchSize);
        figures.ms.pkCutoff.push(performance.now() - t0);
        figures.ms.binarySearch.push(r.searchMs);
        figures.deleted.pkCutoff = r.deleted;
        figures.probes = r.probes;
      }
    }
  }
  for (const t of ['purge_today', 'purge_today_raw', 'purge_c1']) await c.query(`DROP TABLE IF EXISTS ${t}`);
  return figures;
}

// ---------------------------------------------------------------- view

interface ViewFigures {
  families: number;
  rowsPerFamily: number;
  queries: Array<{ sql: string; tableMs: number; viewMs: number; ratio: number; rows: number; sameAnswer: boolean; viewPlan: string[]; logTypes: string }>;
}

async function viewPart(options: Options, c: mysql.Connection): Promise<ViewFigures> {
  const families = Array.from({ length: 20 }, (_, i) => `vfam_${String(i).padStart(2, '0')}`);
  const n = options.viewRowsPerFamily;
  log(`view: filling 20 families x ${n} rows, and raw_logs with the same rows`);
  await c.query('DROP VIEW IF EXISTS raw_logs_view');
  await c.query('DROP TABLE IF EXISTS raw_logs_table');
  await c.query(rawLogsTableSql({ name: 'raw_logs_table' }));
  const json = `JSON_OBJECT('name', CONCAT('dog-', seq), 'breed', ${BREED_SQL}, 'weight', 1 + seq % 90)`;
  for (const family of families) {
    await c.query(`DROP TABLE IF EXISTS ${family}`);
    await c.query(
      withoutSecondaryKeys(oldFamilyTableSql(family, DOG_FIELDS)).replace(/(`_ingested_at` [^\n]*INVISIBLE),/, '$1,\n  `_raw` LONGTEXT NULL INVISIBLE,'),
    );
    await c.query(`INSERT INTO ${family} (name, breed, weight, _raw) SELECT CONCAT('dog-', seq), ${BREED_SQL}, 1 + seq % 90, ${json} FROM seq_1_to_${n}`);
    await c.query(`INSERT INTO raw_logs_table (family, log) SELECT '${family}', ${json} FROM seq_1_to_${n}`);
    await c.query(`ANALYZE TABLE ${family}`);
  }
  await c.query('ANALYZE TABLE raw_logs_table');
  await c.query(`CREATE VIEW raw_logs_view AS ${families.map((f) => `SELECT id, '${f}' AS family, _raw AS log FROM ${f}`).join(' UNION ALL ')}`);
  const groupBy = 'SELECT family, COUNT(*) FROM raw_logs GROUP BY family';
  // What a gateway could run instead of the view for the GROUP BY (as scatter-plan.ts special-cases it today): one COUNT(*) per family table.
  const perTable = families.map((f) => `SELECT '${f}' AS family, COUNT(*) FROM ${f}`).join(' UNION ALL ');
  const queries: Array<{ sql: string; viewSql?: string }> = [
    { sql: `SELECT * FROM raw_logs WHERE family = 'vfam_07'` },
    { sql: groupBy },
    { sql: `${groupBy} -- rewritten for the view as: SELECT 'fam' AS family, COUNT(*) FROM fam UNION ALL ... (20 tables)`, viewSql: perTable },
  ];
  const reps = options.quick ? 3 : 7;
  const out: ViewFigures = { families: families.length, rowsPerFamily: n, queries: [] };
  for (const query of queries) {
    const sql = query.sql;
    const onTable = sql.replace('raw_logs', 'raw_logs_table').replace(/ -- .*$/, '');
    const onView = query.viewSql ?? sql.replace('raw_logs', 'raw_logs_view');
    const time = async (text: string): Promise<{ ms: number; rows: mysql.RowDataPacket[] }> => {
      const t0 = performance.now();
      const [rows] = await c.query<mysql.RowDataPacket[]>(text);
      return { ms: performance.now() - t0, rows };
    };
    await time(onTable);
    await time(onView);
    const tableMs: number[] = [];
    const viewMs: number[] = [];
    let sameAnswer = true;
    let rows = 0;
    let logTypes = '';
    for (let i = 0; i < reps; i++) {
      const first = i % 2 === 0 ? onTable : onView;
      const a = await time(first);
      const b = await time(first === onTable ? onView : onTable);
      const [t, v] = first === onTable ? [a, b] : [b, a];
      tableMs.push(t.ms);
      viewMs.push(v.ms);
      rows = t.rows.length;
      // ids differ (each family table has its own); mysql2 parses a JSON-typed
      // column (the table's log) but not a LONGTEXT one (the view's): compare parsed.
      const cell = (v: unknown): unknown => (typeof v === 'string' && v.startsWith('{') ? JSON.parse(v) : v);
      const canon = (list: mysql.RowDataPacket[]): string =>
        list
          .map((r) => JSON.stringify(Object.values(r).slice(sql.startsWith('SELECT *') ? 1 : 0).map(cell)))
          .sort()
          .join('\n');
      if (i === 0 && sql.startsWith('SELECT *')) logTypes = `table log ${typeof t.rows[0]?.['log']}, view log ${typeof v.rows[0]?.['log']} (as mysql2 types them)`;
      if (i === 0) sameAnswer = canon(t.rows) === canon(v.rows);
    }
    const [plan] = await c.query<mysql.RowDataPacket[]>(`EXPLAIN ${onView}`);
    const viewPlan = plan.map((p) => `${String(p['id'])} ${String(p['select_type'])} ${String(p['table'])} ${String(p['type'])} rows=${String(p['rows'])} ${String(p['Extra'] ?? '')}`.trim());
    const t = median(tableMs);
    const v = median(viewMs);
    out.queries.push({ sql, tableMs: t, viewMs: v, ratio: v / t, rows, sameAnswer, viewPlan, logTypes });
  }
  await c.query('DROP VIEW IF EXISTS raw_logs_view');
  await c.query('DROP TABLE IF EXISTS raw_logs_table');
  for (const family of families) await c.query(`DROP TABLE IF EXISTS ${family}`);
  return out;
}

// ---------------------------------------------------------------- main

function renderIngest(shape: string, figures: readonly LayoutFigures[]): string {
  const lines = [
    `Ingest, ${shape} (1000-event transactions, 4 connections; medians; ratio to (d)):`,
    '',
    '| layout | rows/s | ratio to (d) | median of per-round ratios to (d) [each round] | p50 / p99 ms |',
    '|---|---:|---:|---:|---:|',
  ];
  for (const f of figures) {
    const p50 = median(f.runs.map((r) => r.p50));
    const p99 = median(f.runs.map((r) => r.p99));
    const rounds = f.roundRatiosToD ?? [];
    lines.push(
      `| (${f.key}) ${f.title} | ${Math.round(f.rowsPerSecond).toLocaleString('en-US')} | ${(f.ratioToD ?? Number.NaN).toFixed(2)}x | ${median(rounds).toFixed(2)}x [${rounds.map((r) => r.toFixed(2)).join(', ')}] | ${p50.toFixed(0)} / ${p99.toFixed(0)} |`,
    );
  }
  return lines.join('\n');
}

async function main(): Promise<number> {
  const parsed = parseOptions(process.argv.slice(2));
  if (parsed === 'help') {
    process.stdout.write(HELP);
    return 0;
  }
  const options = parsed;
  const stamp = Date.now().toString(36);
  const database = `bench_layouts_${stamp}`;
  let cluster: Cluster | undefined;
  let server = options.server;
  let admin: mysql.Connection | undefined;
  const cleanup = async (): Promise<void> => {
    stopAllLoads();
    if (admin !== undefined) {
      if (options.server !== undefined) await admin.query(`DROP DATABASE IF EXISTS ${quoteId(database)}`).catch(() => undefined);
      await admin.end().catch(() => undefined);
    }
    if (cluster !== undefined) await cluster.stop().catch(() => undefined);
  };
  process.once('SIGINT', () => void cleanup().finally(() => process.exit(130)));
  process.once('SIGTERM', () => void cleanup().finally(() => process.exit(130)));
  const started = new Date();
  try {
    if (server === undefined) {
      log('starting one throwaway server');
      cluster = await startCluster({ count: 1, names: ['layouts'] });
      const s = cluster.servers[0];
      if (s === undefined) throw new Error('no server started');
      server = { host: s.host, port: s.port, user: 'root', password: '', database: '' };
    }
    const bootstrap = await openDirect({ ...server, database: '' });
    await bootstrap.query(`CREATE DATABASE IF NOT EXISTS ${quoteId(database)} CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci`);
    await bootstrap.end();
    const target = { ...server, database };
    admin = await openDirect(target);
    const [version] = await admin.query<mysql.RowDataPacket[]>('SELECT VERSION() AS v');
    const machine = describeMachine(String(version[0]?.['v'] ?? '?'), '-');
    const out: string[] = [
      `Machine: ${machine.cpu}, ${machine.cores} cores, ${machine.memoryGiB} GiB RAM, ${machine.os}; node ${machine.node}; server ${machine.server}; ${options.runs} rounds x ${options.runSeconds} s per layout`,
    ];
    const json: Record<string, unknown> = { startedAt: started.toISOString(), machine, options: { ...options, parts: [...options.parts], server: undefined } };
    if (options.parts.has('ingest')) {
      const ingest: Record<string, LayoutFigures[]> = {};
      for (const shape of options.shapes) {
        ingest[shape] = await ingestPart(options, target, shape, admin);
        out.push('', renderIngest(shape, ingest[shape]));
      }
      json['ingest'] = ingest;
    }
    if (options.parts.has('purge')) {
      const p = await purgePart(options, admin);
      json['purge'] = p;
      out.push(
        '',
        `Purge of half of ${p.rows} rows (${p.deleted.today} / ${p.deleted.pkCutoff} deleted), batches of ${p.batchSize}; medians of ${p.ms.today.length}:`,
        '',
        '| method | ms | ratio to today |',
        '|---|---:|---:|',
        `| today: ids by the \`_ingested_at\` index, DELETE by id (family table, then its raw_logs rows) | ${median(p.ms.today).toFixed(0)} | 1.00x |`,
        `| PK cut-off: binary search (${p.probes} probes, ${median(p.ms.binarySearch).toFixed(1)} ms), DELETE WHERE id < X LIMIT n (c1 shape, raw copy in the row) | ${median(p.ms.pkCutoff).toFixed(0)} | ${(median(p.ms.pkCutoff) / median(p.ms.today)).toFixed(2)}x |`,
      );
    }
    if (options.parts.has('view')) {
      const v = await viewPart(options, admin);
      json['view'] = v;
      out.push('', `raw_logs as a VIEW (UNION ALL over ${v.families} families x ${v.rowsPerFamily} rows) vs today's table with the same rows; medians:`, '');
      out.push('| query | table ms | view ms | view / table | rows | same answer |', '|---|---:|---:|---:|---:|---|');
      for (const q of v.queries) {
        out.push(`| \`${q.sql}\` | ${q.tableMs.toFixed(1)} | ${q.viewMs.toFixed(1)} | ${q.ratio.toFixed(2)}x | ${q.rows} | ${q.sameAnswer ? 'yes' : '**no**'}${q.logTypes === '' ? '' : `; ${q.logTypes}`} |`);
      }
      for (const q of v.queries) out.push('', `EXPLAIN (view) ${q.sql}:`, ...q.viewPlan.slice(0, 6).map((l) => `    ${l}`), ...(q.viewPlan.length > 6 ? [`    ... ${q.viewPlan.length - 6} more`] : []));
    }
    const text = out.join('\n');
    process.stdout.write(`\n${text}\n`);
    json['table'] = text;
    await mkdir(RESULTS_DIR, { recursive: true });
    const file = join(RESULTS_DIR, `layouts-${started.toISOString().replace(/[:.]/g, '-')}.json`);
    await writeFile(file, `${JSON.stringify(json, null, 2)}\n`);
    log(`raw figures written to ${file}`);
    return 0;
  } finally {
    await cleanup();
  }
}

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    process.stderr.write(`layouts failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
    process.exit(1);
  },
);
