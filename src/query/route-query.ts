/**
 * Decides where a validated query runs. Pure: the caller supplies where each
 * family lives and which shards hold raw_logs rows.
 */
import { RAW_LOGS_TABLE } from '../schema/identifiers.js';

/** Where a query runs: on one shard unchanged, or federated onto `target`. */
export type QueryPlan =
  | { kind: 'single'; shard: string }
  | {
      kind: 'federated';
      /** The shard the query finally runs on. */
      target: string;
      /** Family tables that live elsewhere and must be staged on the target: family -> its shard. */
      stage: Array<{ family: string; shard: string }>;
      /** When raw_logs is read: the other shards whose raw_logs rows must be staged. */
      rawLogsFrom: string[] | null;
      /**
       * Spread families the query reads: each is staged on the target as the
       * union of all its parts (the target's own part included); absent or
       * empty when none.
       */
      spread?: Array<{ family: string; shards: string[] }>;
    };

/** What the planner needs to know. */
export interface RoutingInput {
  /** Tables the query reads (families and possibly 'raw_logs'). */
  tables: readonly string[];
  /** family -> shard id for every family table in `tables`. */
  placements: ReadonlyMap<string, string>;
  /** Shards that hold at least one family (so raw_logs rows), in configuration order. */
  shardsWithFamilies: readonly string[];
  /** Every configured shard id, in configuration order (tie-breaks, table-less queries). */
  allShards: readonly string[];
  /** Spread families (more than one part): family -> every part's shard, by part index. */
  spread?: ReadonlyMap<string, readonly string[]>;
}

/**
 * Plans a query. A query whose tables all live on one shard runs there
 * unchanged; otherwise it is federated onto the shard that already holds the
 * most of its tables, and the rest is staged there. A spread family (in
 * `spread`) always federates: each of its parts counts towards its shard's
 * weight, and it is staged from every part.
 * Example: tables [a, b], a on s1, b on s2 -> federated, target s1, stage [b@s2].
 */
export function planQuery(input: RoutingInput): QueryPlan {
  const families = input.tables.filter((t) => t !== RAW_LOGS_TABLE);
  const readsRawLogs = families.length !== input.tables.length;
  const spread = input.spread ?? new Map<string, readonly string[]>();
  const needed = new Set<string>();
  for (const family of families) {
    const shard = input.placements.get(family);
    if (shard === undefined) throw new Error(`no placement for ${family}`);
    needed.add(shard);
    for (const part of spread.get(family) ?? []) needed.add(part);
  }
  const rawShards = readsRawLogs ? [...input.shardsWithFamilies] : [];
  for (const shard of rawShards) needed.add(shard);
  if (needed.size === 0) return { kind: 'single', shard: input.shardsWithFamilies[0] ?? input.allShards[0] ?? '' };
  if (needed.size === 1) return { kind: 'single', shard: [...needed][0] as string };

  const weight = new Map<string, number>();
  for (const family of new Set(families)) {
    for (const shard of spread.get(family) ?? [input.placements.get(family) as string]) weight.set(shard, (weight.get(shard) ?? 0) + 1);
  }
  for (const shard of rawShards) weight.set(shard, (weight.get(shard) ?? 0) + 1);
  let target = '';
  let best = -1;
  for (const shard of input.allShards) {
    const w = weight.get(shard) ?? 0;
    if (w > best) {
      best = w;
      target = shard;
    }
  }
  const stage = [...new Set(families)]
    .filter((family) => !spread.has(family))
    .map((family) => ({ family, shard: input.placements.get(family) as string }))
    .filter((entry) => entry.shard !== target);
  const spreadStage = [...new Set(families)].filter((family) => spread.has(family)).map((family) => ({ family, shards: [...(spread.get(family) ?? [])] }));
  return {
    kind: 'federated',
    target,
    stage,
    rawLogsFrom: readsRawLogs ? rawShards.filter((s) => s !== target) : null,
    ...(spreadStage.length > 0 ? { spread: spreadStage } : {}),
  };
}
