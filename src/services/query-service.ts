/**
 * Query use case: validate the SQL (one safe SELECT), find where its tables
 * live, and run it: unchanged on the one shard that holds them all, or
 * federated by staging the other shards' rows in session-scoped temporary
 * tables on one server, so that the answer is what a single server holding
 * every table would give. Knows nothing of HTTP.
 */
import type { Logger } from '../logging/logger.js';
import { AppError } from '../errors/app-error.js';
import { validateSql, type SqlLimits } from '../query/validate-sql.js';
import { applyRowCap, restateCapError } from '../query/row-cap.js';
import { planQuery } from '../query/route-query.js';
import { planScatter } from '../query/scatter-plan.js';
import { executePlan } from '../query/execute-plan.js';
import type { QueryRows } from '../query/run-select.js';
import type { ShardManager } from '../shards/shard-manager.js';
import { RAW_LOGS_TABLE } from '../schema/identifiers.js';

/** What a query answers. `results` is the seed-compatible key. */
export interface QueryResult {
  results: QueryRows['rows'];
  columns: QueryRows['columns'];
  truncated: boolean;
  /** Which limit cut the rows: 'rows' (query_max_rows) or 'bytes' (query_max_bytes); null when not truncated. */
  truncatedReason: QueryRows['truncatedReason'];
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
  /** Bytes of rows returned at most (query_max_bytes); more are cut and flagged `truncated`. */
  maxBytes: number;
  /** Bounds on the SQL text before it is parsed (query_max_length, query_max_tokens). */
  sqlLimits?: SqlLimits;
  /** Statement time limit, milliseconds. */
  timeoutMs: number;
  /** Rows a federated query may copy between shards. */
  federationMaxRows: number;
}

/** Runs read-only SQL across the shards. */
export class QueryService {
  private readonly options: QueryServiceOptions;

  constructor(options: QueryServiceOptions) {
    this.options = options;
  }

  /**
   * Runs one read-only SELECT. Throws QUERY_PARSE_FAILED, QUERY_NOT_READ_ONLY,
   * QUERY_TABLE_FORBIDDEN, QUERY_TOO_COMPLEX, DUPLICATE_COLUMN_NAME,
   * QUERY_FAILED, QUERY_TOO_LARGE (400), TABLE_NOT_FOUND
   * (404), SHARD_UNAVAILABLE (503), QUERY_TIMEOUT (504).
   */
  async query(sql: unknown): Promise<QueryResult> {
    const started = performance.now();
    const validated = validateSql(sql, this.options.sqlLimits);
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
    const plan = planQuery({
      tables: validated.tables,
      placements,
      shardsWithFamilies: readsRawLogs ? await manager.shardsWithFamilies() : [],
      allShards: manager.shards.map((s) => s.id),
    });
    const scatter = plan.kind === 'federated' && families.length === 0 ? planScatter(validated.ast) : null;
    const executed = await executePlan(manager, plan, scatter, capped, this.options).catch((error: unknown) => {
      // Server messages quote what ran: put them in terms of the user's SQL, without the row cap.
      throw restateCapError(error, validated, capped);
    });
    return {
      results: executed.rows,
      columns: executed.columns,
      truncated: executed.truncated,
      truncatedReason: executed.truncatedReason,
      shards: executed.shards,
      elapsedMs: Math.round((performance.now() - started) * 1000) / 1000,
    };
  }
}
