import { describe, expect, it } from 'vitest';
import { validateSql } from '../../../src/query/validate-sql.js';
import { mergeScatter, planScatter, scatterNeedsMerge } from '../../../src/query/scatter-plan.js';

const plan = (sql: string) => planScatter(validateSql(sql).ast);

describe('planScatter', () => {
  it('accepts raw_logs grouped by family, with the seed-style aggregate', () => {
    expect(plan('SELECT family, COUNT(*) FROM raw_logs GROUP BY family')).toEqual({ familyColumn: 'family', direction: 'ASC', limit: null });
    expect(plan('SELECT r.family AS f, COUNT(*) n FROM raw_logs r WHERE id > 3 GROUP BY r.family HAVING COUNT(*) > 1 ORDER BY f DESC LIMIT 3')).toEqual({
      familyColumn: 'f',
      direction: 'DESC',
      limit: 3,
    });
    expect(plan('SELECT family, MAX(JSON_EXTRACT(log, "$.weight")) FROM raw_logs GROUP BY family ORDER BY family')).not.toBeNull();
  });

  it('refuses shapes where concatenating per-shard results would be wrong', () => {
    for (const sql of [
      'SELECT COUNT(*) FROM raw_logs',
      'SELECT family FROM raw_logs',
      'SELECT COUNT(*) FROM raw_logs GROUP BY family',
      'SELECT family, COUNT(*) FROM raw_logs GROUP BY family, id',
      'SELECT family, COUNT(*) FROM raw_logs GROUP BY family WITH ROLLUP',
      'SELECT family, COUNT(*) FROM raw_logs GROUP BY family ORDER BY COUNT(*) DESC',
      'SELECT family, COUNT(*) FROM raw_logs GROUP BY family LIMIT 2, 3',
      'SELECT family, COUNT(*) FROM raw_logs GROUP BY family LIMIT 3 OFFSET 1',
      'SELECT family, COUNT(*) FROM raw_logs WHERE id IN (SELECT id FROM raw_logs) GROUP BY family',
      'SELECT family, COUNT(*) OVER () FROM raw_logs GROUP BY family',
      'SELECT family, COUNT(*) FROM raw_logs GROUP BY family UNION SELECT family, 1 FROM raw_logs GROUP BY family',
      'WITH x AS (SELECT * FROM raw_logs) SELECT family, COUNT(*) FROM x GROUP BY family',
    ]) {
      expect(plan(sql), sql).toBeNull();
    }
  });
});

describe('mergeScatter', () => {
  it('orders by family in code-unit order and applies the limit', () => {
    const parts = [[{ family: 'b', n: 1 }, { family: 'Z', n: 2 }], [{ family: 'a', n: 3 }]];
    expect(mergeScatter({ familyColumn: 'family', direction: 'ASC', limit: null }, parts).map((r) => r.family)).toEqual(['Z', 'a', 'b']);
    expect(mergeScatter({ familyColumn: 'family', direction: 'DESC', limit: 2 }, parts).map((r) => r.family)).toEqual(['b', 'a']);
  });
});

describe('scatterNeedsMerge', () => {
  const plan = { familyColumn: 'family', direction: 'ASC' as const, limit: null };
  it('is false while every family comes from one shard', () => {
    expect(scatterNeedsMerge(plan, [[{ family: 'a', n: 1 }], [{ family: 'b', n: 2 }], []])).toBe(false);
  });
  it('is true when a family (a spread one) comes from two shards', () => {
    expect(scatterNeedsMerge(plan, [[{ family: 'a', n: 1 }, { family: 's', n: 2 }], [{ family: 's', n: 3 }]])).toBe(true);
  });
  it('reads the output column the family is under', () => {
    expect(scatterNeedsMerge({ ...plan, familyColumn: 'f' }, [[{ f: 'x' }], [{ f: 'x' }]])).toBe(true);
  });
});
