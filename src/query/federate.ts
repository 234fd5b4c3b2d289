/**
 * The federation engine: answers a query whose tables live on several shards
 * exactly as one server holding them all would. It stages the remote tables
 * as TEMPORARY tables on the target shard's session (a temporary table
 * shadows a base table of the same name for this session only, which is how
 * raw_logs gathers every shard's rows), then runs the user's unchanged SQL in
 * a READ ONLY transaction there. Staged copies are dropped when the query
 * ends, whatever happened (with the session itself when it is cancelled).
 * Copies are bounded by rows (federation_max_rows), by bytes (pages and
 * INSERTs that fit the target's max_allowed_packet) and by time (the
 * request's signal and deadline). It must not decide where a query runs
 * (route-query.ts does).
 *
 * A spread family (its rows split over several parts) is staged as the
 * union of all its parts, the target's own part included (copied locally,
 * then renamed over the family as raw_logs is), a part without a column
 * reading NULL for it. A query over one spread family alone pushes its
 * work down (spread-plan.ts): partial aggregates merged on the target, the
 * first n + m rows of each part for ORDER BY ... LIMIT, or its WHERE.
 */
import { escape } from 'mysql2';
import { AppError, isAppError } from '../errors/app-error.js';
import { translateMysqlError } from '../errors/mysql-errors.js';
import { INTERNAL_PREFIX, LEGACY_RAW_LOGS_TABLE, RAW_COLUMN, RAW_LOGS_TABLE, quoteIdentifier } from '../schema/identifiers.js';
import { rawLogsTableSql } from '../schema/internal-tables.js';
import { quoteString } from '../schema/sql-literal.js';
import type { ServerFlavor } from '../schema/type-mapping.js';
import { execute, fetchRawRows, type PooledConnection, type StatementResult } from '../shards/connection.js';
import type { ShardManager } from '../shards/shard-manager.js';
import { statementTimeLimitSql } from '../shards/shard-pool.js';
import { aggregateErrors } from '../errors/aggregate.js';
import { neededColumns } from './column-usage.js';
import type { QueryPlan } from './route-query.js';
import { applyRowCap } from './row-cap.js';
import { runSelect, type QueryRows, type ResultLimits } from './run-select.js';
import { planSpreadPushdown, type AggregatePushdown, type SpreadPushdown } from './spread-plan.js';

/** A plan that needs federation. */
export type FederatedPlan = Extract<QueryPlan, { kind: 'federated' }>;

/** Limits of one federated query (and of its result: rows and bytes, run-select.ts). */
export interface FederationLimits extends ResultLimits {
  /** Statement time limit of the final SELECT, milliseconds (when no deadline is given). */
  timeoutMs: number;
  /** Rows a federated query may copy between shards, the target's own raw_logs rows included. */
  federationMaxRows: number;
  /**
   * Ends the whole query, staging included: every statement it started on
   * any shard is killed and its connections destroyed (shards/connection.ts).
   */
  signal?: AbortSignal;
  /** When the request's time is up (performance.now() milliseconds): statements on the target get only what is left. */
  deadline?: number;
}

/** Rows fetched by the first staging page, before the rows' size is known. */
const FIRST_PAGE_ROWS = 100;
/** Rows fetched per staging page at most, whatever their size. */
const MAX_PAGE_ROWS = 5000;
/** Bytes of row text a staging page aims at: memory stays bounded whatever the rows' size. */
const PAGE_BYTES = 4 * 1024 * 1024;
/** Largest staging INSERT, bytes (a single row larger than this, up to max_allowed_packet, goes alone). */
const INSERT_MAX_BYTES = 4 * 1024 * 1024;
/** Room left in a packet for the protocol's own bytes. */
const PACKET_SLACK_BYTES = 1024;

/** Name of the staged raw_logs copy before it is renamed over raw_logs for the session. */
const STAGED_RAW_LOGS = 'databalancer_staged_raw_logs';
/** Name of a spread family's staged union before it is renamed over the family for the session. */
const STAGED_SPREAD = 'databalancer_staged_spread';
/** Staged partial aggregates of a spread family's parts. */
const STAGED_PARTIALS = 'databalancer_staged_partials';

/**
 * Runs the capped SQL of `plan` federated onto `plan.target`. Copies only the
 * columns the query can read; when that analysis missed one (the server says
 * "unknown column" rather than reading NULL), runs again with full copies,
 * which gives the single-server answer (or its real error).
 * Throws QUERY_TOO_LARGE (400) past the row budget, QUERY_FAILED (400),
 * SHARD_UNAVAILABLE (503), QUERY_TIMEOUT (504), or the signal's reason.
 */
export async function runFederated(manager: ShardManager, plan: FederatedPlan, sql: string, limits: FederationLimits, ast?: unknown): Promise<QueryRows> {
  // A query over one spread family alone may push its work down to the parts (spread-plan.ts).
  const only = plan.spread?.length === 1 && plan.stage.length === 0 && plan.rawLogsFrom === null ? plan.spread[0] : undefined;
  let pushdown: SpreadPushdown | null = null;
  if (only !== undefined && ast !== undefined) {
    const shapes = await readShapes(manager, only.family, only.shards, limits.signal);
    pushdown = planSpreadPushdown(ast, only.family, unionShape(shapes).columns.map((c) => c.name));
    if (pushdown?.kind === 'aggregate') {
      try {
        return await runSpreadAggregate(manager, plan, only.family, shapes, pushdown, sql, limits);
      } catch (error) {
        // The exact general path gives the answer, or the query's own error.
        if (!(isAppError(error) && error.code === 'QUERY_FAILED')) throw error;
      }
      pushdown = null;
    }
  }
  try {
    return await runFederatedOnce(manager, plan, sql, limits, true, pushdown);
  } catch (error) {
    if (isAppError(error) && error.code === 'QUERY_FAILED' && (error.details['serverCode'] === 'ER_BAD_FIELD_ERROR' || pushdown !== null)) {
      return runFederatedOnce(manager, plan, sql, limits, false, null);
    }
    throw error;
  }
}

/** Milliseconds left before `limits`' deadline (at least 1), or its statement time limit. */
function timeLeft(limits: FederationLimits): number {
  return limits.deadline === undefined ? limits.timeoutMs : Math.max(1, Math.floor(limits.deadline - performance.now()));
}

/** One federated query in progress: where it stages, and what it may still copy. */
interface Staging {
  manager: ShardManager;
  /** The target shard's id and its staging session. */
  target: string;
  connection: PooledConnection;
  flavor: ServerFlavor;
  /** The target's max_allowed_packet, bytes. */
  maxAllowedPacket: number;
  budget: RowBudget;
  signal: AbortSignal | undefined;
  /** Statements written from the user's query (a push-down): server errors are QUERY_FAILED, not internal. */
  userQuery?: boolean;
}

async function runFederatedOnce(
  manager: ShardManager,
  plan: FederatedPlan,
  sql: string,
  limits: FederationLimits,
  prune: boolean,
  pushdown: SpreadPushdown | null,
): Promise<QueryRows> {
  const budget: RowBudget = { remaining: limits.federationMaxRows, limit: limits.federationMaxRows };
  return manager.withSession(
    plan.target,
    async (connection, info) => {
      const staging: Staging = {
        manager,
        target: plan.target,
        connection,
        flavor: info.flavor,
        maxAllowedPacket: info.maxAllowedPacket,
        budget,
        signal: limits.signal,
      };
      const staged: string[] = [];
      try {
        // The server's own limit too (MariaDB's covers every statement, the copies included).
        await execute(connection, statementTimeLimitSql(info.flavor, timeLeft(limits)));
        for (const { family, shard } of plan.stage) {
          await stageFamily(staging, family, shard, prune ? sql : null);
          staged.push(family);
        }
        if (plan.rawLogsFrom !== null) {
          await stageRawLogs(staging, plan.rawLogsFrom);
          staged.push(RAW_LOGS_TABLE);
        }
        // After raw_logs: the target's raw_logs view reads its own part's base table, not the staged union.
        for (const { family, shards } of plan.spread ?? []) {
          await stageSpread(staging, family, shards, prune ? sql : null, pushdown?.kind === 'aggregate' ? null : pushdown);
          staged.push(family);
        }
        await execute(connection, statementTimeLimitSql(info.flavor, timeLeft(limits)));
        await execute(connection, 'START TRANSACTION READ ONLY');
        try {
          return await runSelect(connection, sql, limits);
        } catch (error) {
          throw translateMysqlError(error, { shard: plan.target, userQuery: true });
        } finally {
          await execute(connection, 'COMMIT').catch(() => undefined);
        }
      } catch (error) {
        throw translateMysqlError(error, { shard: plan.target });
      } finally {
        if (limits.signal?.aborted !== true) {
          await execute(connection, statementTimeLimitSql(info.flavor, 0)).catch(() => undefined);
          for (const table of staged) {
            await execute(connection, `DROP TEMPORARY TABLE IF EXISTS ${quoteIdentifier(table)}`).catch(() => undefined);
          }
          await execute(connection, `DROP TEMPORARY TABLE IF EXISTS ${STAGED_RAW_LOGS}`).catch(() => undefined);
          await execute(connection, `DROP TEMPORARY TABLE IF EXISTS ${STAGED_SPREAD}`).catch(() => undefined);
        }
      }
    },
    limits.signal,
  );
}

/** Runs `sql` on the target's staging session; its errors name the target (not the source being read). */
async function onTarget(staging: Staging, sql: string): Promise<StatementResult> {
  try {
    return await execute(staging.connection, sql);
  } catch (error) {
    throw translateMysqlError(error, { shard: staging.target, ...(staging.userQuery === true ? { userQuery: true } : {}) });
  }
}

/** Rows a query may still copy between shards. */
interface RowBudget {
  remaining: number;
  limit: number;
}

/** Charges `rows` to the budget; QUERY_TOO_LARGE once more than its limit would move. */
function charge(budget: RowBudget, rows: number): void {
  budget.remaining -= rows;
  if (budget.remaining < 0) {
    throw new AppError(
      'QUERY_TOO_LARGE',
      `this query spans shards and would move more than ${budget.limit} rows between them; filter it to fewer rows or families, or raise --federation_max_rows`,
      { limit: budget.limit },
    );
  }
}

/**
 * Copies a family table from its shard into a same-named TEMPORARY table on
 * the target. `sql`, when given, is the query: only the columns it can read
 * are copied; null copies every column.
 */
async function stageFamily(staging: Staging, family: string, shard: string, sql: string | null): Promise<void> {
  await staging.manager.withReader(
    shard,
    family,
    async (source) => {
      const [createRow] = (await fetchRawRows(source, `SHOW CREATE TABLE ${quoteIdentifier(family)}`)) as Array<Array<string | null>>;
      const createSql = createRow?.[1];
      if (typeof createSql !== 'string') throw new Error(`SHOW CREATE TABLE ${family} returned nothing`);
      await onTarget(staging, stagingEngine(createSql.replace(/^CREATE TABLE/, 'CREATE TEMPORARY TABLE'), staging.flavor));
      const all = await columnNames(source, family);
      const needed = sql === null ? null : neededColumns(sql, family, all);
      const unneeded = needed === null ? [] : all.filter((c) => !needed.includes(c));
      if (unneeded.length > 0) {
        // Dropped from the (still empty) copy, so a missed reference fails loudly.
        await onTarget(staging, `ALTER TABLE ${quoteIdentifier(family)} ${unneeded.map((c) => `DROP COLUMN ${quoteIdentifier(c)}`).join(', ')}`);
      }
      await copyRows(staging, source, family, family, needed ?? all);
    },
    staging.signal,
  );
}

/**
 * Builds a TEMPORARY raw_logs holding the target's own rows and every other
 * listed shard's rows (schema/internal-tables.ts defines its shape). The
 * target's own rows count against the row budget too. On a shard raw_logs
 * is a view over its family tables' `_raw` (shards/raw-logs-view.ts) whose
 * ids repeat across families, so another shard's rows are copied branch by
 * branch, each by its own primary key.
 */
async function stageRawLogs(staging: Staging, sources: readonly string[]): Promise<void> {
  await onTarget(staging, rawLogsTableSql({ name: STAGED_RAW_LOGS, staged: { engine: staging.flavor === 'mariadb' ? 'Aria' : 'InnoDB' } }));
  // One row past the budget is enough to know it is exceeded.
  const local = await onTarget(
    staging,
    `INSERT INTO ${STAGED_RAW_LOGS} (id, family, log) SELECT id, family, log FROM raw_logs LIMIT ${staging.budget.remaining + 1}`,
  );
  charge(staging.budget, local.affectedRows);
  const raw = quoteIdentifier(RAW_COLUMN);
  for (const shard of sources) {
    await staging.manager.withReader(
      shard,
      undefined,
      async (source) => {
        const tables = await fetchRawRows(
          source,
          `SELECT c.TABLE_NAME FROM information_schema.COLUMNS c JOIN information_schema.TABLES t
              ON t.TABLE_SCHEMA = c.TABLE_SCHEMA AND t.TABLE_NAME = c.TABLE_NAME
            WHERE c.TABLE_SCHEMA = DATABASE() AND t.TABLE_TYPE = 'BASE TABLE'
              AND ((c.COLUMN_NAME = ${escape(RAW_COLUMN)} AND LEFT(c.TABLE_NAME, ${INTERNAL_PREFIX.length}) <> ${escape(INTERNAL_PREFIX)})
                   OR (c.TABLE_NAME = ${escape(LEGACY_RAW_LOGS_TABLE)} AND c.COLUMN_NAME = 'log'))
            ORDER BY c.TABLE_NAME`,
        );
        for (const [name] of tables) {
          const table = String(name);
          const from =
            table === LEGACY_RAW_LOGS_TABLE
              ? { list: 'id, family, log', table, where: null }
              : { list: `id, ${escape(table)}, ${raw}`, table, where: `${raw} IS NOT NULL` };
          await copyRows(staging, source, table, STAGED_RAW_LOGS, ['id', 'family', 'log'], from);
        }
      },
      staging.signal,
    );
  }
  await onTarget(staging, `ALTER TABLE ${STAGED_RAW_LOGS} RENAME TO raw_logs`);
}

/**
 * Staged copies live for one query in one session, so they need no
 * transactions or crash safety: on MariaDB they use Aria, which fills much
 * faster than InnoDB. MySQL has no Aria, so it keeps InnoDB.
 */
function stagingEngine(createSql: string, flavor: ServerFlavor): string {
  return flavor === 'mariadb' ? createSql.replace(/ENGINE=InnoDB/, 'ENGINE=Aria') : createSql;
}

/** The table's columns in the server's order, read on the source session (whose database is the shard's). */
async function columnNames(connection: PooledConnection, table: string): Promise<string[]> {
  const rows = await fetchRawRows(
    connection,
    `SELECT COLUMN_NAME FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = ${escape(table)} ORDER BY ORDINAL_POSITION`,
  );
  return rows.map((row) => String(row[0]));
}

/**
 * Copies every row of `table` (keyset pages by id) into `destTable` on the
 * target, charging the row budget. Pages and INSERTs are bounded by bytes,
 * not rows: a page asks for as many rows as fit PAGE_BYTES at the size the
 * last page's rows had, and each INSERT holds what fits the target's
 * max_allowed_packet (and INSERT_MAX_BYTES). QUERY_TOO_LARGE for a row that
 * fits no packet of the target.
 */
async function copyRows(
  staging: Staging,
  source: PooledConnection,
  table: string,
  destTable: string,
  columns: readonly string[],
  from?: { list: string; where: string | null; source?: string },
): Promise<void> {
  const list = columns.map(quoteIdentifier).join(', ');
  const selectList = from?.list ?? list;
  const fromSql = from?.source ?? quoteIdentifier(table);
  const where = (afterId: string | null): string => {
    const terms = [...(from?.where == null ? [] : [from.where]), ...(afterId === null ? [] : [`id > ${escape(afterId)}`])];
    return terms.length === 0 ? '' : ` WHERE ${terms.join(' AND ')}`;
  };
  const page = (afterId: string | null, limit: number): Promise<Array<Array<string | null>>> =>
    fetchRawRows(source, `SELECT ${selectList} FROM ${fromSql}${where(afterId)} ORDER BY id LIMIT ${limit}`);
  // Pipelined: the next page is read from the source while this one is
  // written to the target (two connections, two servers).
  let limit = FIRST_PAGE_ROWS;
  let rows = await page(null, limit);
  while (rows.length > 0) {
    charge(staging.budget, rows.length);
    const { tuples, sizes } = tuplesOf(rows);
    const pageBytes = sizes.reduce((sum, size) => sum + size, 0);
    const nextLimit = Math.max(1, Math.min(MAX_PAGE_ROWS, limit * 4, Math.floor(PAGE_BYTES / Math.max(1, pageBytes / rows.length))));
    const lastId = rows[rows.length - 1]?.[0] ?? null;
    const next = rows.length < limit ? Promise.resolve([]) : page(lastId, nextLimit);
    // Settle `next` even if an insert fails, so no rejection goes unhandled.
    next.catch(() => undefined);
    rows = [];
    await insertTuples(staging, table, `INSERT INTO ${quoteIdentifier(destTable)} (${list}) VALUES `, tuples, sizes);
    limit = nextLimit;
    rows = await next;
  }
}

/** Inserts row `tuples` (with their byte `sizes`) on the target in statements that fit its packet; `table` names the rows' source in errors. */
async function insertTuples(staging: Staging, table: string, head: string, tuples: readonly string[], sizes: readonly number[]): Promise<void> {
  const headBytes = Buffer.byteLength(head);
  const packetBytes = staging.maxAllowedPacket - PACKET_SLACK_BYTES;
  const insertBytes = Math.min(packetBytes, INSERT_MAX_BYTES);
  let batch: string[] = [];
  let batchBytes = headBytes;
  for (let i = 0; i < tuples.length; i++) {
    const size = sizes[i] as number;
    if (headBytes + size > packetBytes) {
      throw new AppError(
        'QUERY_TOO_LARGE',
        `a row of "${table}" is ${size} bytes, more than shard "${staging.target}" accepts in one packet (max_allowed_packet ${staging.maxAllowedPacket} bytes), so this query cannot copy it between shards; select fewer or smaller columns, or raise max_allowed_packet on that server`,
        { table, rowBytes: size, maxAllowedPacket: staging.maxAllowedPacket, shard: staging.target },
      );
    }
    if (batch.length > 0 && batchBytes + 1 + size > insertBytes) {
      await onTarget(staging, head + batch.join(','));
      batch = [];
      batchBytes = headBytes;
    }
    batch.push(tuples[i] as string);
    batchBytes += size + 1;
  }
  if (batch.length > 0) await onTarget(staging, head + batch.join(','));
}

/** Row text of `rows` as SQL tuples, and their sizes in bytes. */
function tuplesOf(rows: ReadonlyArray<ReadonlyArray<string | null>>): { tuples: string[]; sizes: number[] } {
  const tuples = rows.map((row) => `(${row.map((cell) => (cell === null ? 'NULL' : quoteString(cell))).join(',')})`);
  return { tuples, sizes: tuples.map((tuple) => Buffer.byteLength(tuple)) };
}

/** One part's table of a spread family: its shard, its columns (name and type, in order) and its CREATE TABLE. */
interface PartShape {
  shard: string;
  columns: PartColumn[];
  createSql: string;
}

/** A column of a part's table; `invisible` ones (the raw copy, the ingestion time) are not in `SELECT *`. */
interface PartColumn {
  name: string;
  type: string;
  invisible: boolean;
}

/** Reads the table of every part of `family` at once; SHARD_UNAVAILABLE naming a part that is down. */
async function readShapes(manager: ShardManager, family: string, shards: readonly string[], signal: AbortSignal | undefined): Promise<PartShape[]> {
  const settled = await Promise.allSettled(
    shards.map((shard) =>
      manager.withReader(
        shard,
        family,
        async (connection): Promise<PartShape> => {
          const [createRow] = (await fetchRawRows(connection, `SHOW CREATE TABLE ${quoteIdentifier(family)}`)) as Array<Array<string | null>>;
          const createSql = createRow?.[1];
          if (typeof createSql !== 'string') throw new Error(`SHOW CREATE TABLE ${family} returned nothing`);
          const rows = await fetchRawRows(
            connection,
            `SELECT COLUMN_NAME, COLUMN_TYPE, EXTRA FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = ${escape(family)} ORDER BY ORDINAL_POSITION`,
          );
          const columns = rows.map((row) => ({ name: String(row[0]), type: String(row[1]), invisible: /INVISIBLE/i.test(String(row[2] ?? '')) }));
          return { shard, createSql, columns };
        },
        signal,
      ),
    ),
  );
  const failures = settled.filter((r): r is PromiseRejectedResult => r.status === 'rejected').map((r) => r.reason as unknown);
  if (failures.length > 0) throw aggregateErrors(failures);
  return settled.map((r) => (r as PromiseFulfilledResult<PartShape>).value);
}

/**
 * The table one server holding every part would have: the part with the
 * most columns, plus any column only other parts have (a part that was
 * down when a field was added lacks it; its rows read NULL there).
 */
function unionShape(shapes: readonly PartShape[]): { base: PartShape; columns: PartColumn[]; extra: PartColumn[] } {
  const base = shapes.reduce((best, shape) => (shape.columns.length > best.columns.length ? shape : best), shapes[0] as PartShape);
  const names = new Set(base.columns.map((c) => c.name.toLowerCase()));
  const extra: PartColumn[] = [];
  for (const shape of shapes) {
    for (const column of shape.columns) {
      if (names.has(column.name.toLowerCase())) continue;
      names.add(column.name.toLowerCase());
      extra.push(column);
    }
  }
  return { base, columns: [...base.columns, ...extra], extra };
}

/** Creates the empty TEMPORARY table `name` on the target with the union of the parts' columns. */
async function createUnionTable(staging: Staging, family: string, name: string, shapes: readonly PartShape[]): Promise<PartColumn[]> {
  const union = unionShape(shapes);
  const head = `CREATE TABLE ${quoteIdentifier(family)}`;
  if (!union.base.createSql.startsWith(head)) throw new Error(`unexpected SHOW CREATE TABLE of ${family}`);
  const createSql = `CREATE TEMPORARY TABLE ${quoteIdentifier(name)}${union.base.createSql.slice(head.length)}`;
  await onTarget(staging, stagingEngine(createSql, staging.flavor));
  if (union.extra.length > 0) {
    await onTarget(staging, `ALTER TABLE ${quoteIdentifier(name)} ${union.extra.map((c) => `ADD COLUMN ${quoteIdentifier(c.name)} ${c.type} NULL`).join(', ')}`);
  }
  return union.columns;
}

/**
 * Stages spread family `family` on the target as the union of all its
 * parts (`shards`, the target's own part copied locally), renamed over the
 * family for the session. `sql`, when given, prunes the copy to the
 * columns it reads; `pushdown` (a filter or the top rows of each part)
 * limits the rows each part sends. A part without a column reads NULL.
 */
async function stageSpread(staging: Staging, family: string, shards: readonly string[], sql: string | null, pushdown: SpreadPushdown | null): Promise<void> {
  const shapes = await readShapes(staging.manager, family, shards, staging.signal);
  const union = await createUnionTable(staging, family, STAGED_SPREAD, shapes);
  const all = union.map((c) => c.name);
  // `*` reads every visible column; an invisible one (the raw copy) only when the query names it.
  const mentioned = sql?.toLowerCase();
  const needed =
    sql === null
      ? null
      : (neededColumns(sql, family, all) ?? union.filter((c) => !c.invisible || mentioned?.includes(c.name.toLowerCase()) === true || c.name === 'id').map((c) => c.name));
  const unneeded = needed === null ? [] : all.filter((c) => !needed.includes(c));
  if (unneeded.length > 0) {
    await onTarget(staging, `ALTER TABLE ${STAGED_SPREAD} ${unneeded.map((c) => `DROP COLUMN ${quoteIdentifier(c)}`).join(', ')}`);
  }
  const columns = needed ?? all;
  const list = columns.map(quoteIdentifier).join(', ');
  const reads = shapes.map((shape) => {
    const has = new Set(shape.columns.map((c) => c.name.toLowerCase()));
    // The part's own columns the copy needs (`*` of a derived table would leave out the invisible ones).
    const own = columns.filter((c) => has.has(c.toLowerCase())).map(quoteIdentifier).join(', ');
    const source = pushdown === null || pushdown.kind === 'aggregate' ? quoteIdentifier(family) : `(${pushdown.partSql(family, own)}) AS databalancer_part`;
    const selectList = columns.map((c) => (has.has(c.toLowerCase()) ? quoteIdentifier(c) : 'NULL')).join(', ');
    // The first n + m rows of every other part are read at once (one statement each).
    const top =
      pushdown?.kind === 'top' && shape.shard !== staging.target
        ? staging.manager.withReader(shape.shard, family, (connection) => asUserQuery(shape.shard, family, true, () => fetchRawRows(connection, `SELECT ${selectList} FROM ${source}`)), staging.signal)
        : null;
    top?.catch(() => undefined);
    return { shape, own, source, selectList, top };
  });
  for (const { shape, own, source, selectList, top } of reads) {
    if (top !== null) {
      const rows = await top;
      charge(staging.budget, rows.length);
      const { tuples, sizes } = tuplesOf(rows);
      await insertTuples(staging, family, `INSERT INTO ${STAGED_SPREAD} (${list}) VALUES `, tuples, sizes);
      continue;
    }
    if (shape.shard === staging.target) {
      const local = await execute(staging.connection, `INSERT INTO ${STAGED_SPREAD} (${own}) SELECT ${own} FROM ${source} LIMIT ${staging.budget.remaining + 1}`).catch(
        (error: unknown) => {
          // A pushed-down WHERE is the user's: its errors send the query down the general path.
          throw translateMysqlError(error, { shard: staging.target, family, ...(pushdown !== null ? { userQuery: true } : {}) });
        },
      );
      charge(staging.budget, local.affectedRows);
      continue;
    }
    await staging.manager.withReader(
      shape.shard,
      family,
      (connection) =>
        asUserQuery(shape.shard, family, pushdown !== null, () => copyRows(staging, connection, family, STAGED_SPREAD, columns, { list: selectList, where: null, source })),
      staging.signal,
    );
  }
  await onTarget(staging, `ALTER TABLE ${STAGED_SPREAD} RENAME TO ${quoteIdentifier(family)}`);
}

/**
 * Answers a GROUP BY / aggregate query over spread family `family` by
 * partial aggregates (spread-plan.ts): every part computes its partial rows
 * at once, only those are staged on the target, and the merge query runs
 * there. The output's names and types are the user's query's own (read by
 * running it over an empty copy of the family's table); a merge whose
 * column types differ is refused as QUERY_FAILED so the caller takes the
 * general path. Throws QUERY_FAILED (any statement the plan wrote failed:
 * the caller falls back), QUERY_TOO_LARGE, SHARD_UNAVAILABLE, QUERY_TIMEOUT.
 */
async function runSpreadAggregate(
  manager: ShardManager,
  plan: FederatedPlan,
  family: string,
  shapes: readonly PartShape[],
  pushdown: AggregatePushdown,
  sql: string,
  limits: FederationLimits,
): Promise<QueryRows> {
  const budget: RowBudget = { remaining: limits.federationMaxRows, limit: limits.federationMaxRows };
  return manager.withSession(
    plan.target,
    async (connection, info) => {
      const staging: Staging = {
        manager,
        target: plan.target,
        connection,
        flavor: info.flavor,
        maxAllowedPacket: info.maxAllowedPacket,
        budget,
        signal: limits.signal,
        userQuery: true,
      };
      const staged = [STAGED_SPREAD, STAGED_PARTIALS];
      let renamed = false;
      try {
        await execute(connection, statementTimeLimitSql(info.flavor, timeLeft(limits)));
        // Every part's partial rows at once, while the target prepares the staging tables.
        const partial = pushdown.partialSql(family);
        const parts = Promise.allSettled(
          shapes.map((shape) =>
            manager.withReader(
              shape.shard,
              family,
              (source) => asUserQuery(shape.shard, family, true, () => fetchRawRows(source, `${partial} LIMIT ${budget.limit + 1}`)),
              limits.signal,
            ),
          ),
        );
        parts.catch(() => undefined);
        await createUnionTable(staging, family, STAGED_SPREAD, shapes);
        const engine = info.flavor === 'mariadb' ? 'Aria' : 'InnoDB';
        await onTarget(staging, `CREATE TEMPORARY TABLE ${STAGED_PARTIALS} ENGINE=${engine} ${pushdown.partialSql(STAGED_SPREAD)} LIMIT 0`);
        const settled = await parts;
        const failures = settled.filter((r): r is PromiseRejectedResult => r.status === 'rejected').map((r) => r.reason as unknown);
        if (failures.length > 0) throw aggregateErrors(failures);
        for (const result of settled) {
          const rows = (result as PromiseFulfilledResult<Array<Array<string | null>>>).value;
          charge(budget, rows.length);
          const { tuples, sizes } = tuplesOf(rows);
          await insertTuples(staging, family, `INSERT INTO ${STAGED_PARTIALS} VALUES `, tuples, sizes);
        }
        // The empty copy over the family: the user's SQL on it gives the output's names and types.
        await onTarget(staging, `ALTER TABLE ${STAGED_SPREAD} RENAME TO ${quoteIdentifier(family)}`);
        renamed = true;
        await execute(connection, statementTimeLimitSql(info.flavor, timeLeft(limits)));
        await execute(connection, 'START TRANSACTION READ ONLY');
        try {
          const shape = await runSelect(connection, sql, limits);
          const merge = applyRowCap({ sql: pushdown.mergeSql(STAGED_PARTIALS, shape.columns.map((c) => c.name)), tables: [] }, limits.maxRows + 1);
          const result = await runSelect(connection, merge, limits);
          const same =
            result.columns.length === shape.columns.length && result.columns.every((c, i) => c.name === shape.columns[i]?.name && c.type === shape.columns[i]?.type);
          if (!same) throw new AppError('QUERY_FAILED', 'the merged columns differ from the query’s own', { reason: 'merge_types' });
          return result;
        } catch (error) {
          throw translateMysqlError(error, { shard: plan.target, userQuery: true });
        } finally {
          await execute(connection, 'COMMIT').catch(() => undefined);
        }
      } catch (error) {
        throw translateMysqlError(error, { shard: plan.target, userQuery: true });
      } finally {
        if (limits.signal?.aborted !== true) {
          await execute(connection, statementTimeLimitSql(info.flavor, 0)).catch(() => undefined);
          for (const table of renamed ? [family, STAGED_PARTIALS] : staged) {
            await execute(connection, `DROP TEMPORARY TABLE IF EXISTS ${quoteIdentifier(table)}`).catch(() => undefined);
          }
        }
      }
    },
    limits.signal,
  );
}

/** Runs `work`; when `user` is set, a server error it meets is the user's query's (QUERY_FAILED on `shard`), else it passes as is. */
async function asUserQuery<T>(shard: string, family: string, user: boolean, work: () => Promise<T>): Promise<T> {
  try {
    return await work();
  } catch (error) {
    throw user ? translateMysqlError(error, { shard, family, userQuery: true }) : error;
  }
}
