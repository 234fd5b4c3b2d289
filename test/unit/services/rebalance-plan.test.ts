import { describe, expect, it } from 'vitest';
import { planRebalance } from '../../../src/services/rebalance-plan.js';

describe('planRebalance', () => {
  it('moves the family closest to half the gap from the heaviest to the lightest shard', () => {
    const plan = planRebalance(['a', 'b', 'c'], [
      { family: 'x', shard: 'a', rows: 100 },
      { family: 'y', shard: 'a', rows: 90 },
      { family: 'z', shard: 'b', rows: 10 },
    ]);
    expect(plan.moves).toEqual([{ family: 'x', from: 'a', to: 'c', rows: 100 }]);
    expect(plan.before).toEqual({ a: 190, b: 10, c: 0 });
    expect(plan.after).toEqual({ a: 90, b: 10, c: 100 });
  });

  it('fills a new empty shard from the others', () => {
    const families = Array.from({ length: 12 }, (_, i) => ({ family: `f${String(i).padStart(2, '0')}`, shard: i % 2 === 0 ? 'a' : 'b', rows: 1000 }));
    const plan = planRebalance(['a', 'b', 'new'], families);
    expect(plan.after).toEqual({ a: 4000, b: 4000, new: 4000 });
    expect(plan.moves).toHaveLength(4);
    expect(new Set(plan.moves.map((m) => m.to))).toEqual(new Set(['new']));
  });

  it('proposes nothing when balanced, when one family is the whole gap, or with one shard', () => {
    expect(planRebalance(['a', 'b'], [{ family: 'x', shard: 'a', rows: 100 }, { family: 'y', shard: 'b', rows: 95 }]).moves).toEqual([]);
    // Moving the only family would just swap the roles.
    expect(planRebalance(['a', 'b'], [{ family: 'x', shard: 'a', rows: 100 }]).moves).toEqual([]);
    expect(planRebalance(['a'], [{ family: 'x', shard: 'a', rows: 100 }]).moves).toEqual([]);
    expect(planRebalance([], []).moves).toEqual([]);
  });

  it('ignores families on shards that are not configured, and moves each family once', () => {
    const plan = planRebalance(['a', 'b'], [
      { family: 'gone', shard: 'old', rows: 10_000 },
      { family: 'x', shard: 'a', rows: 60 },
      { family: 'y', shard: 'a', rows: 40 },
    ]);
    expect(plan.before).toEqual({ a: 100, b: 0 });
    expect(plan.moves).toEqual([{ family: 'x', from: 'a', to: 'b', rows: 60 }]);
  });

  it('is deterministic for the same input in any order', () => {
    const families = [
      { family: 'p', shard: 'a', rows: 30 },
      { family: 'q', shard: 'a', rows: 30 },
      { family: 'r', shard: 'a', rows: 30 },
    ];
    expect(planRebalance(['b', 'a'], [...families].reverse())).toEqual(planRebalance(['a', 'b'], families));
  });
});
