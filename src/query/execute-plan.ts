/**
 * Runs a planned query: unchanged on the one shard that holds its tables, by
 * scatter-merge on every shard at once (scatter-plan.ts), or federated onto
 * one shard (federate.ts). Every user statement runs on a READ ONLY session
 * with the statement time limit. It must not decide the plan.
 */
import { aggregateErrors } from '../errors/aggregate.js';
import { translateMysqlError } from '../errors/mysql-errors.js';
import type { ShardManager } from '../shards/shard-manager.js';
import { runFederated, type FederationLimits } from './federate.js';
import type { QueryPlan } from './route-query.js';
import { capRows, runSelect, type QueryRows, type ResultLimits } from './run-select.js';
import { mergeScatter, type ScatterPlan } from './scatter-plan.js';

/** What ran where: the rows, and every shard whose data they used. */
export interface ExecutedQuery extends QueryRows {
  shards: string[];
}

/**
 * Runs `sql` (validated, capped at maxRows + 1) as `plan` says; `scatter`,
 * when not null, is the scatter-merge fast path of a federated plan.
 * Throws QUERY_FAILED, QUERY_TOO_LARGE (400), SHARD_UNAVAILABLE (503), QUERY_TIMEOUT (504).
 */
export async function executePlan(
  manager: ShardManager,
  plan: QueryPlan,
  scatter: ScatterPlan | null,
  sql: string,
  limits: FederationLimits,
): Promise<ExecutedQuery> {
  if (plan.kind === 'single') return { ...(await runOnShard(manager, plan.shard, sql, limits)), shards: [plan.shard] };
  const shards = [...new Set([plan.target, ...plan.stage.map((s) => s.shard), ...(plan.rawLogsFrom ?? [])])];
  const rows =
    scatter !== null
      ? await runScatter(manager, scatter, [plan.target, ...(plan.rawLogsFrom ?? [])], sql, limits)
      : await runFederated(manager, plan, sql, limits);
  return { ...rows, shards };
}

/** Runs `sql` unchanged on a reader session of `shard`. */
function runOnShard(manager: ShardManager, shard: string, sql: string, limits: ResultLimits): Promise<QueryRows> {
  return manager.withReader(shard, undefined, async (connection) => {
    try {
      return await runSelect(connection, sql, limits);
    } catch (error) {
      throw translateMysqlError(error, { shard, userQuery: true });
    }
  });
}

/**
 * Runs the unchanged SQL on every shard at once and merges the groups (see
 * scatter-plan.ts for why that is exact for raw_logs grouped by family).
 */
async function runScatter(manager: ShardManager, plan: ScatterPlan, shards: readonly string[], sql: string, limits: ResultLimits): Promise<QueryRows> {
  const settled = await Promise.allSettled(shards.map((shard) => runOnShard(manager, shard, sql, limits)));
  const failures = settled.filter((r): r is PromiseRejectedResult => r.status === 'rejected').map((r) => r.reason as unknown);
  if (failures.length > 0) throw aggregateErrors(failures);
  const parts = settled.map((r) => (r as PromiseFulfilledResult<QueryRows>).value);
  const merged = mergeScatter(plan, parts.map((p) => p.rows));
  const cut = parts.find((p) => p.truncatedReason === 'bytes')?.truncatedReason ?? parts.find((p) => p.truncated)?.truncatedReason ?? null;
  const capped = capRows(merged, limits, cut);
  return { columns: parts[0]?.columns ?? [], rows: capped.rows, truncated: capped.truncatedReason !== null, truncatedReason: capped.truncatedReason };
}
