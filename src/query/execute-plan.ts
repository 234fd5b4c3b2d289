/**
 * Runs a planned query: unchanged on the one shard that holds its tables, by
 * scatter-merge on every shard at once (scatter-plan.ts), or federated onto
 * one shard (federate.ts). Every user statement runs on a READ ONLY session
 * with the statement time limit; the request's signal ends every statement
 * it started (past query_timeout_ms, or when the client goes away), and
 * cross-shard plans take a slot of the process's {@link FederationGate}
 * first. It must not decide the plan.
 */
import { AppError } from '../errors/app-error.js';
import { aggregateErrors } from '../errors/aggregate.js';
import { translateMysqlError } from '../errors/mysql-errors.js';
import type { ShardManager } from '../shards/shard-manager.js';
import { runFederated, type FederationLimits } from './federate.js';
import type { QueryPlan } from './route-query.js';
import { capRows, runSelect, type QueryRows, type ResultLimits } from './run-select.js';
import { mergeScatter, scatterNeedsMerge, type ScatterPlan } from './scatter-plan.js';

/** How long a cross-shard query waits for a free slot before 503 GATEWAY_BUSY, milliseconds. */
const GATE_WAIT_MS = 1000;

/**
 * Bounds the cross-shard (federated or scatter) queries one process runs at
 * once (federation_max_concurrent): past it, a query waits up to a second
 * for a slot, then gets 503 GATEWAY_BUSY with `retryAfterSeconds` (the
 * Retry-After header).
 */
export class FederationGate {
  private running = 0;
  private readonly waiting: Array<() => void> = [];

  constructor(
    readonly max: number,
    private readonly waitMs = GATE_WAIT_MS,
  ) {}

  /** Takes a slot (waiting briefly if none is free); returns the function that gives it back. */
  async enter(signal?: AbortSignal): Promise<() => void> {
    if (signal?.aborted === true) throw signal.reason;
    if (this.running < this.max) {
      this.running++;
      return this.leaver();
    }
    await new Promise<void>((resolve, reject) => {
      const cleanup = (): void => {
        clearTimeout(timer);
        signal?.removeEventListener('abort', onAbort);
        const at = this.waiting.indexOf(grant);
        if (at >= 0) this.waiting.splice(at, 1);
      };
      const grant = (): void => {
        cleanup();
        resolve();
      };
      const onAbort = (): void => {
        cleanup();
        reject(signal?.reason);
      };
      const timer = setTimeout(() => {
        cleanup();
        reject(
          new AppError(
            'GATEWAY_BUSY',
            `this gateway process is already running ${this.max} cross-shard queries (--federation_max_concurrent); retry after the Retry-After delay, or raise --federation_max_concurrent`,
            { limit: this.max, retryAfterSeconds: 1 },
          ),
        );
      }, this.waitMs);
      signal?.addEventListener('abort', onAbort, { once: true });
      this.waiting.push(grant);
    });
    // The slot was handed over by the query that left (running unchanged).
    return this.leaver();
  }

  private leaver(): () => void {
    let left = false;
    return () => {
      if (left) return;
      left = true;
      const next = this.waiting.shift();
      if (next !== undefined) next();
      else this.running--;
    };
  }
}

/** What executePlan needs besides the plan: the limits, the request's signal and deadline, and the process's gate. */
export interface ExecuteOptions extends FederationLimits {
  /** Bounds concurrent cross-shard queries; none when absent. */
  gate?: FederationGate;
}

/** What ran where: the rows, and every shard whose data they used. */
export interface ExecutedQuery extends QueryRows {
  shards: string[];
}

/**
 * Runs `sql` (validated, capped at maxRows + 1) as `plan` says; `scatter`,
 * when not null, is the scatter-merge fast path of a federated plan. `ast`,
 * the user's query's, lets a query over one spread family push its work
 * down to the family's parts (spread-plan.ts).
 * Throws QUERY_FAILED, QUERY_TOO_LARGE (400), SHARD_UNAVAILABLE (503), QUERY_TIMEOUT (504).
 */
export async function executePlan(
  manager: ShardManager,
  plan: QueryPlan,
  scatter: ScatterPlan | null,
  sql: string,
  limits: ExecuteOptions,
  ast?: unknown,
): Promise<ExecutedQuery> {
  if (plan.kind === 'single') return { ...(await runOnShard(manager, plan.shard, sql, limits)), shards: [plan.shard] };
  const shards = [...new Set([plan.target, ...plan.stage.map((s) => s.shard), ...(plan.spread ?? []).flatMap((s) => s.shards), ...(plan.rawLogsFrom ?? [])])];
  const leave = limits.gate === undefined ? () => undefined : await limits.gate.enter(limits.signal);
  try {
    // Scatter answers undefined when a spread family's groups came from several shards: then the rows are gathered.
    const scattered = scatter === null ? undefined : await runScatter(manager, scatter, [plan.target, ...(plan.rawLogsFrom ?? [])], sql, limits);
    const rows = scattered ?? (await runFederated(manager, plan, sql, limits, ast));
    return { ...rows, shards };
  } finally {
    leave();
  }
}

/** Runs `sql` unchanged on a reader session of `shard`. */
function runOnShard(manager: ShardManager, shard: string, sql: string, limits: ResultLimits & { signal?: AbortSignal }): Promise<QueryRows> {
  return manager.withReader(
    shard,
    undefined,
    async (connection) => {
      try {
        return await runSelect(connection, sql, limits);
      } catch (error) {
        throw translateMysqlError(error, { shard, userQuery: true });
      }
    },
    limits.signal,
  );
}

/**
 * Runs the unchanged SQL on every shard at once and merges the groups (see
 * scatter-plan.ts for why that is exact for raw_logs grouped by family).
 */
async function runScatter(
  manager: ShardManager,
  plan: ScatterPlan,
  shards: readonly string[],
  sql: string,
  limits: ResultLimits & { signal?: AbortSignal },
): Promise<QueryRows | undefined> {
  const settled = await Promise.allSettled(shards.map((shard) => runOnShard(manager, shard, sql, limits)));
  const failures = settled.filter((r): r is PromiseRejectedResult => r.status === 'rejected').map((r) => r.reason as unknown);
  if (failures.length > 0) throw aggregateErrors(failures);
  const parts = settled.map((r) => (r as PromiseFulfilledResult<QueryRows>).value);
  if (scatterNeedsMerge(plan, parts.map((p) => p.rows))) return undefined;
  const merged = mergeScatter(plan, parts.map((p) => p.rows));
  const cut = parts.find((p) => p.truncatedReason === 'bytes')?.truncatedReason ?? parts.find((p) => p.truncated)?.truncatedReason ?? null;
  const capped = capRows(merged, limits, cut);
  return { columns: parts[0]?.columns ?? [], rows: capped.rows, truncated: capped.truncatedReason !== null, truncatedReason: capped.truncatedReason };
}
