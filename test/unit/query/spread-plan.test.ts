import { describe, expect, it } from 'vitest';
import { planSpreadPushdown } from '../../../src/query/spread-plan.js';
import { planQuery } from '../../../src/query/route-query.js';
import { validateSql } from '../../../src/query/validate-sql.js';

const COLUMNS = ['id', 'g', 'x', 'v', 's'];
const plan = (sql: string) => planSpreadPushdown(validateSql(sql).ast, 'fam', COLUMNS);

describe('planSpreadPushdown', () => {
  it('pushes COUNT/SUM/MIN/MAX as partials and AVG as SUM and COUNT, never averaged averages', () => {
    const p = plan('SELECT g, COUNT(*) AS n, SUM(x), MIN(v), MAX(v), AVG(x) FROM fam WHERE x > 1 GROUP BY g HAVING n > 2 ORDER BY n DESC LIMIT 3');
    expect(p?.kind).toBe('aggregate');
    if (p?.kind !== 'aggregate') return;
    expect(p.partialSql('fam')).toBe(
      'SELECT `g` AS `databalancer_k0`, COUNT(*) AS `databalancer_p0`, SUM(`x`) AS `databalancer_p1`, MIN(`v`) AS `databalancer_p2`, MAX(`v`) AS `databalancer_p3`, SUM(`x`) AS `databalancer_p4`, COUNT(`x`) AS `databalancer_p5` FROM `fam` AS `fam` WHERE `x` > 1 GROUP BY `g`',
    );
    expect(p.mergeSql('staged', ['g', 'n', 'SUM(x)', 'MIN(v)', 'MAX(v)', 'AVG(x)'])).toBe(
      'SELECT `databalancer_k0` AS `g`, CAST(SUM(`databalancer_p0`) AS SIGNED) AS `n`, SUM(`databalancer_p1`) AS `SUM(x)`, MIN(`databalancer_p2`) AS `MIN(v)`, MAX(`databalancer_p3`) AS `MAX(v)`, SUM(`databalancer_p4`) / NULLIF(SUM(`databalancer_p5`), 0) AS `AVG(x)` FROM `staged` GROUP BY `databalancer_k0` HAVING `n` > 2 ORDER BY `n` DESC LIMIT 3',
    );
  });

  it('keeps expressions over aggregates and group keys, positions and aliases, and quotes any output name', () => {
    const p = plan('SELECT x % 3 AS b, COUNT(*) * 2 FROM fam t GROUP BY 1 ORDER BY b');
    expect(p?.kind).toBe('aggregate');
    if (p?.kind !== 'aggregate') return;
    expect(p.partialSql('fam')).toBe('SELECT `x` % 3 AS `databalancer_k0`, COUNT(*) AS `databalancer_p0` FROM `fam` AS `t` GROUP BY `x` % 3');
    expect(p.mergeSql('staged', ['b', 'COUNT(*) `2`'])).toContain('CAST(SUM(`databalancer_p0`) AS SIGNED) * 2 AS `COUNT(*) ``2```');
  });

  it('pushes COUNT(DISTINCT) as distinct pairs, with MIN/MAX of the same value', () => {
    const p = plan('SELECT g, COUNT(DISTINCT x), MAX(x) FROM fam GROUP BY g');
    expect(p?.kind).toBe('aggregate');
    if (p?.kind !== 'aggregate') return;
    expect(p.partialSql('fam')).toBe('SELECT `g` AS `databalancer_k0`, `x` AS `databalancer_p0` FROM `fam` AS `fam` GROUP BY `g`, `x`');
    expect(p.mergeSql('staged', ['g', 'c', 'm'])).toBe(
      'SELECT `databalancer_k0` AS `g`, COUNT(DISTINCT `databalancer_p0`) AS `c`, MAX(`databalancer_p0`) AS `m` FROM `staged` GROUP BY `databalancer_k0`',
    );
  });

  it('pushes SELECT DISTINCT down as GROUP BY its columns', () => {
    const p = plan('SELECT DISTINCT g, s AS t FROM fam WHERE x > 1 ORDER BY t DESC LIMIT 2');
    expect(p?.kind).toBe('aggregate');
    if (p?.kind !== 'aggregate') return;
    expect(p.partialSql('fam')).toBe('SELECT `g` AS `databalancer_k0`, `s` AS `databalancer_k1` FROM `fam` AS `fam` WHERE `x` > 1 GROUP BY `g`, `s`');
    expect(p.mergeSql('staged', ['g', 't'])).toBe(
      'SELECT `databalancer_k0` AS `g`, `databalancer_k1` AS `t` FROM `staged` GROUP BY `databalancer_k0`, `databalancer_k1` ORDER BY `t` DESC LIMIT 2',
    );
  });

  it('falls back to a filter for DISTINCT mixed with other aggregates, GROUP_CONCAT, DISTINCT ordered by another column, non-grouped columns', () => {
    for (const sql of [
      'SELECT g, COUNT(DISTINCT x), COUNT(*) FROM fam GROUP BY g',
      'SELECT GROUP_CONCAT(s) FROM fam WHERE x > 1',
      'SELECT DISTINCT g FROM fam ORDER BY x LIMIT 2',
      'SELECT g, x, COUNT(*) FROM fam GROUP BY g',
    ]) {
      expect({ sql, kind: plan(sql)?.kind }).toEqual({ sql, kind: 'filter' });
    }
    const p = plan('SELECT GROUP_CONCAT(s) FROM fam WHERE x > 1');
    expect(p?.kind === 'filter' ? p.partSql('fam') : null).toBe('SELECT * FROM `fam` AS `fam` WHERE `x` > 1');
  });

  it('sends the first n + m rows of each part for ORDER BY ... LIMIT n OFFSET m, aliases and positions resolved', () => {
    const p = plan('SELECT x * 2 AS y, id FROM fam WHERE g = \'b\' ORDER BY y DESC, 2 LIMIT 4 OFFSET 3');
    expect(p?.kind).toBe('top');
    expect(p?.kind === 'top' ? p.partSql('fam') : null).toBe("SELECT * FROM `fam` AS `fam` WHERE `g` = 'b' ORDER BY `x` * 2 DESC, `id` ASC LIMIT 7");
    const comma = plan('SELECT id FROM fam ORDER BY x LIMIT 3, 5');
    expect(comma?.kind === 'top' ? comma.partSql('fam') : null).toBe('SELECT * FROM `fam` AS `fam` ORDER BY `x` ASC LIMIT 8');
  });

  it('gives no plan for joins, subqueries, set operations, windows, CTEs or another table', () => {
    for (const sql of [
      'SELECT * FROM fam a JOIN other b ON a.id = b.id',
      'SELECT * FROM fam WHERE x > (SELECT AVG(x) FROM fam)',
      'SELECT g FROM fam UNION SELECT g FROM fam',
      'SELECT id, ROW_NUMBER() OVER (ORDER BY id) FROM fam',
      'WITH c AS (SELECT * FROM fam) SELECT COUNT(*) FROM c',
      'SELECT COUNT(*) FROM other',
      'SELECT g, COUNT(*) FROM fam GROUP BY g WITH ROLLUP',
    ]) {
      expect({ sql, plan: plan(sql) }).toEqual({ sql, plan: null });
    }
  });
});

describe('planQuery with spread families', () => {
  it('federates onto the shard holding most parts and stages the spread family from every part', () => {
    expect(
      planQuery({
        tables: ['fam', 'other'],
        placements: new Map([
          ['fam', 's1'],
          ['other', 's3'],
        ]),
        shardsWithFamilies: [],
        allShards: ['s1', 's2', 's3'],
        spread: new Map([['fam', ['s1', 's2', 's3']]]),
      }),
    ).toEqual({ kind: 'federated', target: 's3', stage: [], rawLogsFrom: null, spread: [{ family: 'fam', shards: ['s1', 's2', 's3'] }] });
    expect(
      planQuery({ tables: ['fam'], placements: new Map([['fam', 's2']]), shardsWithFamilies: [], allShards: ['s1', 's2'], spread: new Map([['fam', ['s2', 's1']]]) }),
    ).toEqual({ kind: 'federated', target: 's1', stage: [], rawLogsFrom: null, spread: [{ family: 'fam', shards: ['s2', 's1'] }] });
  });
});
