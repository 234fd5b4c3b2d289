/**
 * Query use case: validate the SQL (one safe SELECT), find where its tables
 * live, and run it: unchanged on the one shard that holds them all, or
 * federated by staging the other shards' rows in session-scoped temporary
 * tables on one server, so that the answer is what a single server holding
 * every table would give. Knows nothing of HTTP.
 */
import { escape } from 'mysql2';
import type { Logger } from '../logging/logger.js';
import { AppError, isAppError } from '../errors/app-error.js';
import { translateMysqlError } from '../errors/mysql-errors.js';
import { validateSql } from '../query/validate-sql.js';
import { applyRowCap } from '../query/row-cap.js';
import { planQuery, type QueryPlan } from '../query/route-query.js';
import { mergeScatter, planScatter, type ScatterPlan } from '../query/scatter-plan.js';
import { neededColumns } from '../query/column-usage.js';
import { aggregateErrors } from '../errors/aggregate.js';
import { execute, fetchRawRows, runSelect, withConnection, type PooledConnection, type QueryRows } from '../query/run-select.js';
import { statementTimeLimitSql, type ShardPool } from '../shards/shard-pool.js';
import type { ServerFlavor } from '../schema/type-mapping.js';
import type { ShardManager } from '../shards/shard-manager.js';
import { INGESTED_AT_COLUMN, RAW_LOGS_TABLE, quoteIdentifier } from '../schema/identifiers.js';
import { quoteString } from '../schema/sql-literal.js';

/** What a query answers. `results` is the seed-compatible key. */
export interface QueryResult {
  results: QueryRows['rows'];
  columns: QueryRows['columns'];
  truncated: boolean;
  /** Shards whose data the answer used. */
  shards: string[];
  /** Wall time in milliseconds, gateway side. */
  elapsedMs: number;
}

/** Settings of the query service. */
export interface QueryServiceOptions {
  manager: ShardManager;
  logger: Logger;
  /** Rows returned at most; more are cut and flagged `truncated`. */
  maxRows: number;
  /** Statement time limit, milliseconds. */
  timeoutMs: number;
  /** Rows a federated query may copy between shards. */
  federationMaxRows: number;
}

/** Rows fetched and inserted per round trip while staging. */
const STAGE_BATCH_ROWS = 5000;

/** Runs read-only SQL across the shards. */
export class QueryService {
  private readonly options: QueryServiceOptions;

  constructor(options: QueryServiceOptions) {
    this.options = options;
  }

  /**
   * Runs one read-only SELECT. Throws QUERY_PARSE_FAILED, QUERY_NOT_READ_ONLY,
   * QUERY_TABLE_FORBIDDEN, QUERY_FAILED, QUERY_TOO_LARGE (400), TABLE_NOT_FOUND
   * (404), SHARD_UNAVAILABLE (503), QUERY_TIMEOUT (504).
   */
  async query(sql: unknown): Promise<QueryResult> {
    const started = performance.now();
    const validated = validateSql(sql);
    const capped = applyRowCap(validated, this.options.maxRows + 1);
    const { manager } = this.options;

    const families = validated.tables.filter((t) => t !== RAW_LOGS_TABLE);
    const placements = new Map<string, string>();
    await Promise.all(
      families.map(async (family) => {
        const shard = await manager.shardOf(family);
        if (shard === undefined) {
          throw new AppError(
            'TABLE_NOT_FOUND',
            `table "${family}" is not a log family here; GET /api/describe lists the families you can query (plus raw_logs)`,
            { table: family },
          );
        }
        placements.set(family, shard);
      }),
    );
    const readsRawLogs = validated.tables.includes(RAW_LOGS_TABLE);
    const shardsWithFamilies = readsRawLogs ? await manager.catalog.shardsWithFamilies() : [];
    const allShards = manager.shards.map((s) => s.id);
    const plan = planQuery({
      tables: validated.tables,
      placements,
      shardsWithFamilies: allShards.filter((id) => shardsWithFamilies.includes(id)),
      allShards,
    });
    const scatter = plan.kind === 'federated' && families.length === 0 ? planScatter(validated.ast) : null;
    const rows =
      plan.kind === 'single'
        ? await this.runSingle(plan.shard, capped)
        : scatter !== null
          ? await this.runScatter(scatter, [plan.target, ...(plan.rawLogsFrom ?? [])], capped)
          : await this.runFederated(plan, capped);
    const shards = plan.kind === 'single' ? [plan.shard] : [plan.target, ...new Set([...plan.stage.map((s) => s.shard), ...(plan.rawLogsFrom ?? [])])];
    return {
      results: rows.rows,
      columns: rows.columns,
      truncated: rows.truncated,
      shards: [...new Set(shards)],
      elapsedMs: Math.round((performance.now() - started) * 1000) / 1000,
    };
  }

  private runSingle(shard: string, sql: string): Promise<QueryRows> {
    return this.options.manager.withShard(shard, undefined, async (pool) => {
      try {
        return await withConnection(pool.reader, (connection) => runSelect(connection, sql, this.options.maxRows));
      } catch (error) {
        throw translateMysqlError(error, { shard, userQuery: true });
      }
    });
  }

  /**
   * Runs the unchanged SQL on every shard at once and merges the groups (see
   * scatter-plan.ts for why that is exact for raw_logs grouped by family).
   */
  private async runScatter(plan: ScatterPlan, shards: readonly string[], sql: string): Promise<QueryRows> {
    const settled = await Promise.allSettled(shards.map((shard) => this.runSingle(shard, sql)));
    const failures = settled.filter((r): r is PromiseRejectedResult => r.status === 'rejected').map((r) => r.reason as unknown);
    if (failures.length > 0) throw aggregateErrors(failures);
    const parts = settled.map((r) => (r as PromiseFulfilledResult<QueryRows>).value);
    const merged = mergeScatter(plan, parts.map((p) => p.rows));
    const truncated = merged.length > this.options.maxRows || parts.some((p) => p.truncated);
    return {
      columns: parts[0]?.columns ?? [],
      rows: merged.slice(0, this.options.maxRows),
      truncated,
    };
  }

  /**
   * Stages remote tables as TEMPORARY tables on the target's staging
   * connection (a temporary table shadows a base table of the same name for
   * this session only, which is how raw_logs gathers every shard's rows),
   * then runs the user's unchanged SQL in a READ ONLY transaction there.
   */
  private async runFederated(plan: Extract<QueryPlan, { kind: 'federated' }>, sql: string): Promise<QueryRows> {
    try {
      return await this.runFederatedOnce(plan, sql, true);
    } catch (error) {
      // A column the usage analysis missed is absent from a pruned copy: the
      // server says "unknown column" rather than reading NULL. Run again with
      // full copies, which gives the single-server answer (or its real error).
      if (isAppError(error) && error.code === 'QUERY_FAILED' && error.details['serverCode'] === 'ER_BAD_FIELD_ERROR') {
        return this.runFederatedOnce(plan, sql, false);
      }
      throw error;
    }
  }

  private async runFederatedOnce(plan: Extract<QueryPlan, { kind: 'federated' }>, sql: string, prune: boolean): Promise<QueryRows> {
    const { manager } = this.options;
    const target = manager.pool(plan.target);
    const info = await manager.withShard(plan.target, undefined, (pool) => pool.ready());
    const budget = { remaining: this.options.federationMaxRows };
    return withConnection(target.writer, async (connection) => {
      const staged: string[] = [];
      try {
        for (const { family, shard } of plan.stage) {
          await this.stageFamily(connection, family, manager.pool(shard), budget, info.flavor, prune ? sql : null);
          staged.push(family);
        }
        if (plan.rawLogsFrom !== null) {
          await this.stageRawLogs(connection, plan.rawLogsFrom.map((id) => manager.pool(id)), budget, info.flavor);
          staged.push(RAW_LOGS_TABLE);
        }
        await execute(connection, statementTimeLimitSql(info.flavor, this.options.timeoutMs));
        await execute(connection, 'START TRANSACTION READ ONLY');
        try {
          return await runSelect(connection, sql, this.options.maxRows);
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

  /** Copies a family table from its shard into a same-named TEMPORARY table on `connection`. */
  private async stageFamily(
    connection: PooledConnection,
    family: string,
    source: ShardPool,
    budget: { remaining: number },
    flavor: ServerFlavor,
    /** The query, to copy only the columns it can read; null copies every column. */
    sql: string | null,
  ): Promise<void> {
    await this.options.manager.withShard(source.id, family, async (pool) => {
      await withConnection(pool.reader, async (sourceConnection) => {
        const [createRow] = (await fetchRawRows(sourceConnection, `SHOW CREATE TABLE ${quoteIdentifier(family)}`)) as Array<Array<string | null>>;
        const createSql = createRow?.[1];
        if (typeof createSql !== 'string') throw new Error(`SHOW CREATE TABLE ${family} returned nothing`);
        await execute(connection, stagingEngine(createSql.replace(/^CREATE TABLE/, 'CREATE TEMPORARY TABLE'), flavor));
        const all = await columnNames(sourceConnection, pool.config.database, family);
        const needed = sql === null ? null : neededColumns(sql, family, all);
        const unneeded = needed === null ? [] : all.filter((c) => !needed.includes(c));
        if (unneeded.length > 0) {
          // Dropped from the (still empty) copy, so a missed reference fails loudly.
          await execute(connection, `ALTER TABLE ${quoteIdentifier(family)} ${unneeded.map((c) => `DROP COLUMN ${quoteIdentifier(c)}`).join(', ')}`);
        }
        await copyRows(sourceConnection, connection, family, family, needed ?? all, budget, this.options.federationMaxRows);
      });
    });
  }

  /**
   * Builds a TEMPORARY raw_logs holding the target's own rows and every other
   * listed shard's rows. Ids repeat across shards, so the staged copy has no
   * primary key. MariaDB refuses a NOT NULL INVISIBLE column without a
   * default, hence the (never used) default on the ingestion time.
   */
  private async stageRawLogs(
    connection: PooledConnection,
    sources: readonly ShardPool[],
    budget: { remaining: number },
    flavor: ServerFlavor,
  ): Promise<void> {
    const at = quoteIdentifier(INGESTED_AT_COLUMN);
    await execute(
      connection,
      `CREATE TEMPORARY TABLE ${STAGED_RAW_LOGS} (
         id BIGINT NOT NULL,
         family VARCHAR(64) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
         log JSON NOT NULL,
         ${at} DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6) INVISIBLE,
         KEY id (id),
         KEY family (family)
       ) ENGINE=${flavor === 'mariadb' ? 'Aria' : 'InnoDB'} DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci`,
    );
    await execute(connection, `INSERT INTO ${STAGED_RAW_LOGS} (id, family, log, ${at}) SELECT id, family, log, ${at} FROM raw_logs`);
    for (const source of sources) {
      await this.options.manager.withShard(source.id, undefined, async (pool) => {
        await withConnection(pool.reader, (sourceConnection) =>
          copyRows(sourceConnection, connection, RAW_LOGS_TABLE, STAGED_RAW_LOGS, ['id', 'family', 'log', INGESTED_AT_COLUMN], budget, this.options.federationMaxRows),
        );
      });
    }
    await execute(connection, `ALTER TABLE ${STAGED_RAW_LOGS} RENAME TO raw_logs`);
  }
}

/**
 * Staged copies live for one query in one session, so they need no
 * transactions or crash safety: on MariaDB they use Aria, which fills much
 * faster than InnoDB. MySQL has no Aria, so it keeps InnoDB.
 */
function stagingEngine(createSql: string, flavor: ServerFlavor): string {
  return flavor === 'mariadb' ? createSql.replace(/ENGINE=InnoDB/, 'ENGINE=Aria') : createSql;
}

/** Name of the staged raw_logs copy before it is renamed over raw_logs for the session. */
const STAGED_RAW_LOGS = 'databalancer_staged_raw_logs';

async function columnNames(connection: PooledConnection, database: string, table: string): Promise<string[]> {
  const rows = await fetchRawRows(
    connection,
    `SELECT COLUMN_NAME FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = ${escape(database)} AND TABLE_NAME = ${escape(table)} ORDER BY ORDINAL_POSITION`,
  );
  return rows.map((row) => String(row[0]));
}

/**
 * Copies every row of `table` (keyset pages by id) into `destTable`, charging
 * `budget`; QUERY_TOO_LARGE once more than `limit` rows would move.
 */
async function copyRows(
  source: PooledConnection,
  dest: PooledConnection,
  table: string,
  destTable: string,
  columns: readonly string[],
  budget: { remaining: number },
  limit: number,
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
        `this query spans shards and would move more than ${limit} rows between them; filter it to fewer rows or families, or raise --federation_max_rows`,
        { limit },
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
