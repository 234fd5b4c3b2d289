/**
 * The federation engine: answers a query whose tables live on several shards
 * exactly as one server holding them all would. It stages the remote tables
 * as TEMPORARY tables on the target shard's session (a temporary table
 * shadows a base table of the same name for this session only, which is how
 * raw_logs gathers every shard's rows), then runs the user's unchanged SQL in
 * a READ ONLY transaction there. Staged copies are dropped when the query
 * ends, whatever happened. It must not decide where a query runs
 * (route-query.ts does).
 */
import { escape } from 'mysql2';
import { AppError, isAppError } from '../errors/app-error.js';
import { translateMysqlError } from '../errors/mysql-errors.js';
import { RAW_LOGS_TABLE, INGESTED_AT_COLUMN, quoteIdentifier } from '../schema/identifiers.js';
import { rawLogsTableSql } from '../schema/internal-tables.js';
import { quoteString } from '../schema/sql-literal.js';
import type { ServerFlavor } from '../schema/type-mapping.js';
import { execute, fetchRawRows, type PooledConnection } from '../shards/connection.js';
import type { ShardManager } from '../shards/shard-manager.js';
import { statementTimeLimitSql } from '../shards/shard-pool.js';
import { neededColumns } from './column-usage.js';
import type { QueryPlan } from './route-query.js';
import { runSelect, type QueryRows } from './run-select.js';

/** A plan that needs federation. */
export type FederatedPlan = Extract<QueryPlan, { kind: 'federated' }>;

/** Limits of one federated query. */
export interface FederationLimits {
  /** Rows returned at most; more are cut and flagged `truncated`. */
  maxRows: number;
  /** Statement time limit of the final SELECT, milliseconds. */
  timeoutMs: number;
  /** Rows a federated query may copy between shards. */
  federationMaxRows: number;
}

/** Rows fetched and inserted per round trip while staging. */
const STAGE_BATCH_ROWS = 5000;

/** Name of the staged raw_logs copy before it is renamed over raw_logs for the session. */
const STAGED_RAW_LOGS = 'databalancer_staged_raw_logs';

/**
 * Runs the capped SQL of `plan` federated onto `plan.target`. Copies only the
 * columns the query can read; when that analysis missed one (the server says
 * "unknown column" rather than reading NULL), runs again with full copies,
 * which gives the single-server answer (or its real error).
 * Throws QUERY_TOO_LARGE (400) past the row budget, QUERY_FAILED (400),
 * SHARD_UNAVAILABLE (503), QUERY_TIMEOUT (504).
 */
export async function runFederated(manager: ShardManager, plan: FederatedPlan, sql: string, limits: FederationLimits): Promise<QueryRows> {
  try {
    return await runFederatedOnce(manager, plan, sql, limits, true);
  } catch (error) {
    if (isAppError(error) && error.code === 'QUERY_FAILED' && error.details['serverCode'] === 'ER_BAD_FIELD_ERROR') {
      return runFederatedOnce(manager, plan, sql, limits, false);
    }
    throw error;
  }
}

async function runFederatedOnce(manager: ShardManager, plan: FederatedPlan, sql: string, limits: FederationLimits, prune: boolean): Promise<QueryRows> {
  const budget: RowBudget = { remaining: limits.federationMaxRows, limit: limits.federationMaxRows };
  return manager.withSession(plan.target, async (connection, info) => {
    const staged: string[] = [];
    try {
      for (const { family, shard } of plan.stage) {
        await stageFamily(manager, connection, family, shard, budget, info.flavor, prune ? sql : null);
        staged.push(family);
      }
      if (plan.rawLogsFrom !== null) {
        await stageRawLogs(manager, connection, plan.rawLogsFrom, budget, info.flavor);
        staged.push(RAW_LOGS_TABLE);
      }
      await execute(connection, statementTimeLimitSql(info.flavor, limits.timeoutMs));
      await execute(connection, 'START TRANSACTION READ ONLY');
      try {
        return await runSelect(connection, sql, limits.maxRows);
      } catch (error) {
        throw translateMysqlError(error, { shard: plan.target, userQuery: true });
      } finally {
        await execute(connection, 'COMMIT').catch(() => undefined);
      }
    } catch (error) {
      throw translateMysqlError(error, { shard: plan.target });
    } finally {
      await execute(connection, statementTimeLimitSql(info.flavor, 0)).catch(() => undefined);
      for (const table of staged) {
        await execute(connection, `DROP TEMPORARY TABLE IF EXISTS ${quoteIdentifier(table)}`).catch(() => undefined);
      }
      await execute(connection, `DROP TEMPORARY TABLE IF EXISTS ${STAGED_RAW_LOGS}`).catch(() => undefined);
    }
  });
}

/** Rows a query may still copy between shards. */
interface RowBudget {
  remaining: number;
  limit: number;
}

/**
 * Copies a family table from its shard into a same-named TEMPORARY table on
 * `connection`. `sql`, when given, is the query: only the columns it can read
 * are copied; null copies every column.
 */
async function stageFamily(
  manager: ShardManager,
  connection: PooledConnection,
  family: string,
  shard: string,
  budget: RowBudget,
  flavor: ServerFlavor,
  sql: string | null,
): Promise<void> {
  await manager.withReader(shard, family, async (source) => {
    const [createRow] = (await fetchRawRows(source, `SHOW CREATE TABLE ${quoteIdentifier(family)}`)) as Array<Array<string | null>>;
    const createSql = createRow?.[1];
    if (typeof createSql !== 'string') throw new Error(`SHOW CREATE TABLE ${family} returned nothing`);
    await execute(connection, stagingEngine(createSql.replace(/^CREATE TABLE/, 'CREATE TEMPORARY TABLE'), flavor));
    const all = await columnNames(source, family);
    const needed = sql === null ? null : neededColumns(sql, family, all);
    const unneeded = needed === null ? [] : all.filter((c) => !needed.includes(c));
    if (unneeded.length > 0) {
      // Dropped from the (still empty) copy, so a missed reference fails loudly.
      await execute(connection, `ALTER TABLE ${quoteIdentifier(family)} ${unneeded.map((c) => `DROP COLUMN ${quoteIdentifier(c)}`).join(', ')}`);
    }
    await copyRows(source, connection, family, family, needed ?? all, budget);
  });
}

/**
 * Builds a TEMPORARY raw_logs holding the target's own rows and every other
 * listed shard's rows (schema/internal-tables.ts defines its shape).
 */
async function stageRawLogs(manager: ShardManager, connection: PooledConnection, sources: readonly string[], budget: RowBudget, flavor: ServerFlavor): Promise<void> {
  const at = quoteIdentifier(INGESTED_AT_COLUMN);
  await execute(connection, rawLogsTableSql({ name: STAGED_RAW_LOGS, staged: { engine: flavor === 'mariadb' ? 'Aria' : 'InnoDB' } }));
  await execute(connection, `INSERT INTO ${STAGED_RAW_LOGS} (id, family, log, ${at}) SELECT id, family, log, ${at} FROM raw_logs`);
  for (const shard of sources) {
    await manager.withReader(shard, undefined, (source) =>
      copyRows(source, connection, RAW_LOGS_TABLE, STAGED_RAW_LOGS, ['id', 'family', 'log', INGESTED_AT_COLUMN], budget),
    );
  }
  await execute(connection, `ALTER TABLE ${STAGED_RAW_LOGS} RENAME TO raw_logs`);
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
 * Copies every row of `table` (keyset pages by id) into `destTable`, charging
 * `budget`; QUERY_TOO_LARGE once more than its limit would move.
 */
async function copyRows(
  source: PooledConnection,
  dest: PooledConnection,
  table: string,
  destTable: string,
  columns: readonly string[],
  budget: RowBudget,
): Promise<void> {
  const list = columns.map(quoteIdentifier).join(', ');
  const page = (afterId: string | null): Promise<Array<Array<string | null>>> =>
    fetchRawRows(
      source,
      `SELECT ${list} FROM ${quoteIdentifier(table)}${afterId === null ? '' : ` WHERE id > ${escape(afterId)}`} ORDER BY id LIMIT ${STAGE_BATCH_ROWS}`,
    );
  // Pipelined: the next page is read from the source while this one is
  // written to the target (two connections, two servers).
  let rows = await page(null);
  while (rows.length > 0) {
    budget.remaining -= rows.length;
    if (budget.remaining < 0) {
      throw new AppError(
        'QUERY_TOO_LARGE',
        `this query spans shards and would move more than ${budget.limit} rows between them; filter it to fewer rows or families, or raise --federation_max_rows`,
        { limit: budget.limit },
      );
    }
    const lastId = rows[rows.length - 1]?.[0] ?? null;
    const next = rows.length < STAGE_BATCH_ROWS ? Promise.resolve([]) : page(lastId);
    // Settle `next` even if the insert fails, so no rejection goes unhandled.
    next.catch(() => undefined);
    const values = rows.map((row) => `(${row.map((cell) => (cell === null ? 'NULL' : quoteString(cell))).join(',')})`).join(',');
    await execute(dest, `INSERT INTO ${quoteIdentifier(destTable)} (${list}) VALUES ${values}`);
    rows = await next;
  }
}
