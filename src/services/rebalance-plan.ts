/**
 * The rebalance proposal: which families to move so that rows per shard
 * even out (after a shard is added, most often). Pure: it sees row counts,
 * never a database.
 */

/** A family's size where it lives now. */
export interface FamilyLoad {
  family: string;
  shard: string;
  rows: number;
}

/** One proposed move. */
export interface ProposedMove {
  family: string;
  from: string;
  to: string;
  rows: number;
}

/** What a rebalance would do. */
export interface RebalancePlan {
  /** Rows per shard now, every configured shard listed. */
  before: Record<string, number>;
  /** Rows per shard once the moves are done. */
  after: Record<string, number>;
  moves: ProposedMove[];
}

/** Stop once the heaviest and lightest shard differ by at most this share of the mean. */
const GOOD_ENOUGH = 0.1;

/**
 * Greedy: while the heaviest shard is heavier than the lightest by more
 * than 10% of the mean, move the family of the heaviest whose size is
 * closest to half the gap (so the gap shrinks the most), if one is smaller
 * than the gap (a bigger one would only swap the roles). A family moves at
 * most once. Shards and families are taken in name order, so the same input
 * gives the same plan.
 * Example: shards a, b, c; families x (a, 100), y (a, 90), z (b, 10) ->
 *   [{ family: 'x', from: 'a', to: 'c', rows: 100 }]  (a 90, b 10, c 100)
 */
export function planRebalance(shards: readonly string[], families: readonly FamilyLoad[], maxMoves = 100): RebalancePlan {
  const load = new Map<string, number>([...shards].sort().map((id) => [id, 0]));
  for (const f of families) if (load.has(f.shard)) load.set(f.shard, (load.get(f.shard) ?? 0) + f.rows);
  const before = Object.fromEntries(load);
  const placed = new Map(families.filter((f) => load.has(f.shard)).map((f) => [f.family, { ...f }]));
  const moved = new Set<string>();
  const moves: ProposedMove[] = [];
  const total = [...load.values()].reduce((a, b) => a + b, 0);
  const mean = load.size === 0 ? 0 : total / load.size;
  while (moves.length < maxMoves && load.size > 1) {
    const ordered = [...load.entries()].sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]));
    const [heavy, heavyRows] = ordered[0] as [string, number];
    const [light, lightRows] = ordered[ordered.length - 1] as [string, number];
    const gap = heavyRows - lightRows;
    if (gap <= GOOD_ENOUGH * mean || gap <= 0) break;
    let best: FamilyLoad | undefined;
    for (const f of [...placed.values()].sort((a, b) => a.family.localeCompare(b.family))) {
      if (f.shard !== heavy || moved.has(f.family) || f.rows <= 0 || f.rows >= gap) continue;
      if (best === undefined || Math.abs(f.rows - gap / 2) < Math.abs(best.rows - gap / 2)) best = f;
    }
    if (best === undefined) break;
    moves.push({ family: best.family, from: heavy, to: light, rows: best.rows });
    moved.add(best.family);
    best.shard = light;
    load.set(heavy, heavyRows - best.rows);
    load.set(light, lightRows + best.rows);
  }
  return { before, after: Object.fromEntries(load), moves };
}
