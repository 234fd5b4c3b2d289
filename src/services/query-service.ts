/**
 * Query use case: validate the SQL (one safe SELECT), find where its tables
 * live, and run it: unchanged on the one shard that holds them all, or
 * federated by staging the other shards' rows in session-scoped temporary
 * tables on one server, so that the answer is what a single server holding
 * every table would give. Knows nothing of HTTP.
 */
import type { Logger } from '../logging/logger.js';
import { AppError } from '../errors/app-error.js';
import type { SqlLimits } from '../query/validate-sql.js';
import { ValidationCache } from '../query/validation-cache.js';
import { applyRowCap, restateCapError } from '../query/row-cap.js';
import { planQuery } from '../query/route-query.js';
import { planScatter } from '../query/scatter-plan.js';
import { executePlan, FederationGate } from '../query/execute-plan.js';
import type { QueryRows } from '../query/run-select.js';
import type { ShardManager } from '../shards/shard-manager.js';
import type { FamilyPart } from '../shards/catalog.js';
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
  /** Cross-shard queries this process runs at once (federation_max_concurrent); default 4. */
  federationMaxConcurrent?: number;
}

/** How a caller may end a query early. */
export interface QueryCallOptions {
  /** Aborted when the client goes away: every statement the query started is killed. */
  signal?: AbortSignal;
  /**
   * Instead of `signal`: the controller the caller aborts (with
   * {@link clientGone}) when its client goes away; the query aborts it too,
   * past query_timeout_ms. Saves an AbortController and a listener per query.
   */
  controller?: AbortController;
  /**
   * Called with the tables the SQL reads (families and raw_logs) once it is
   * validated, before any shard is asked: the transports pass the access
   * check of the request's token (AccessService.require, 403 FORBIDDEN).
   */
  authorize?: (tables: readonly string[]) => void;
}

/** The reason a query ends when its client goes away. */
export function clientGone(): AppError {
  return new AppError('BAD_USER_INPUT', 'the client went away; its query was cancelled', { reason: 'client_closed' });
}

/** Runs read-only SQL across the shards. */
export class QueryService {
  private readonly options: QueryServiceOptions;
  private readonly gate: FederationGate;
  /** The parser's verdicts by query digest: one parse per query shape (query/validation-cache.ts). */
  private readonly validator: ValidationCache;

  constructor(options: QueryServiceOptions) {
    this.options = options;
    this.gate = new FederationGate(options.federationMaxConcurrent ?? 4);
    this.validator = new ValidationCache(options.sqlLimits);
  }

  /**
   * Runs one read-only SELECT. Throws QUERY_PARSE_FAILED, QUERY_NOT_READ_ONLY,
   * QUERY_TABLE_FORBIDDEN, QUERY_TOO_COMPLEX, DUPLICATE_COLUMN_NAME,
   * QUERY_FAILED, QUERY_TOO_LARGE (400), FORBIDDEN (403, from `options.authorize`), TABLE_NOT_FOUND
   * (404), SHARD_UNAVAILABLE, GATEWAY_BUSY (503), QUERY_TIMEOUT (504).
   * query_timeout_ms bounds the whole call, cross-shard copies included:
   * past it, or once `options.signal` aborts, every statement it started on
   * any shard is killed.
   */
  async query(sql: unknown, options: QueryCallOptions = {}): Promise<QueryResult> {
    const started = performance.now();
    const { timeoutMs } = this.options;
    // Aborted past query_timeout_ms or when the caller's signal aborts, whichever comes first.
    const deadline = options.controller ?? new AbortController();
    const timer = setTimeout(
      () =>
        deadline.abort(
          new AppError(
            'QUERY_TIMEOUT',
            `the query ran past --query_timeout_ms (${timeoutMs} ms), copies between shards included, and was stopped; narrow it (WHERE, LIMIT, fewer families) or raise --query_timeout_ms`,
            { timeoutMs },
          ),
        ),
      timeoutMs,
    );
    const gone = (): void => deadline.abort(clientGone());
    if (options.signal?.aborted === true) gone();
    options.signal?.addEventListener('abort', gone, { once: true });
    try {
      return await this.run(sql, started, deadline.signal, options.authorize);
    } catch (error) {
      throw deadline.signal.aborted ? deadline.signal.reason : error;
    } finally {
      clearTimeout(timer);
      options.signal?.removeEventListener('abort', gone);
    }
  }

  /**
   * The tables `sql` reads (families and raw_logs), as query() validates it:
   * for checks before an operation runs (GraphQL's access plugin). Throws
   * the validation errors of query().
   */
  tablesOf(sql: unknown): readonly string[] {
    return this.validator.validate(sql).tables;
  }

  private async run(sql: unknown, started: number, signal: AbortSignal, authorize?: (tables: readonly string[]) => void): Promise<QueryResult> {
    const validated = this.validator.validate(sql);
    authorize?.(validated.tables);
    const capped = applyRowCap(validated, this.options.maxRows + 1);
    const families = validated.tables.filter((t) => t !== RAW_LOGS_TABLE);
    // A family that a move switched to another shard meanwhile: the query runs again where it now lives.
    return this.options.manager.onCurrentShard(families, () => this.runValidated(sql, validated, capped, families, started, signal));
  }

  private async runValidated(
    sql: unknown,
    validated: ReturnType<ValidationCache['validate']>,
    capped: ReturnType<typeof applyRowCap>,
    families: readonly string[],
    started: number,
    signal: AbortSignal,
  ): Promise<QueryResult> {
    const { manager } = this.options;
    const placements = new Map<string, string>();
    const spread = new Map<string, string[]>();
    const place = (family: string, parts: FamilyPart[] | undefined): void => {
      const shard = parts?.[0]?.shard;
      if (parts === undefined || shard === undefined) {
        throw new AppError(
          'TABLE_NOT_FOUND',
          `table "${family}" is not a log family here; GET /api/describe lists the families you can query (plus raw_logs)`,
          { table: family },
        );
      }
      placements.set(family, shard);
      if (parts.length > 1) spread.set(family, parts.map((part) => part.shard));
    };
    // Every part, active or not: a part becomes a writer's only after every reader knows it.
    // One family this process has placed already (most queries): no promise at all.
    if (families.length === 1) {
      const only = families[0] as string;
      place(only, manager.knownPartsOf(only) ?? (await manager.partsOf(only)));
    } else await Promise.all(families.map(async (family) => place(family, await manager.partsOf(family))));
    const readsRawLogs = validated.tables.includes(RAW_LOGS_TABLE);
    const plan = planQuery({
      tables: validated.tables,
      placements,
      shardsWithFamilies: readsRawLogs ? await manager.shardsWithFamilies() : [],
      allShards: manager.shards.map((s) => s.id),
      spread,
    });
    // Per-shard groups concatenated (a spread family's groups, from several shards, make it gather instead: execute-plan.ts).
    const scatter = plan.kind === 'federated' && families.length === 0 ? planScatter(validated.ast ?? this.validator.full(sql).ast) : null;
    const limits = { ...this.options, signal, deadline: started + this.options.timeoutMs, gate: this.gate };
    // The parse tree for the cross-shard plans (spread families push down by it); a cached verdict has none, a cross-shard query parses again.
    const ast = plan.kind === 'federated' ? (validated.ast ?? this.validator.full(sql).ast) : validated.ast;
    const executed = await executePlan(manager, plan, scatter, capped, limits, ast).catch((error: unknown) => {
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
