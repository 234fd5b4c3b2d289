import { describe, expect, it } from 'vitest';
import { applyRowCap, CAP_ALIAS } from '../../../src/query/row-cap.js';
import { validateSql } from '../../../src/query/validate-sql.js';

function cap(sql: string, maxRows: number): string {
  return applyRowCap(validateSql(sql), maxRows);
}

describe('applyRowCap', () => {
  it('appends a LIMIT on its own line when there is none', () => {
    expect(cap('SELECT * FROM dog_registry;', 1001)).toBe('SELECT * FROM dog_registry\nLIMIT 1001');
  });

  it('keeps a trailing comment from swallowing the LIMIT', () => {
    expect(cap('SELECT * FROM t -- all of them', 11)).toBe('SELECT * FROM t\nLIMIT 11');
    expect(cap('SELECT * FROM t # all of them', 11)).toBe('SELECT * FROM t\nLIMIT 11');
    // Even for text that still carries a trailing comment (not from validateSql).
    expect(applyRowCap({ sql: 'SELECT * FROM t -- c', tables: ['t'] }, 5)).toBe('SELECT * FROM t -- c\nLIMIT 5');
    expect(applyRowCap({ sql: 'SELECT * FROM t # c', tables: ['t'] }, 5)).toBe('SELECT * FROM t # c\nLIMIT 5');
  });

  it('leaves a small literal LIMIT unchanged', () => {
    expect(cap('SELECT * FROM t LIMIT 10', 1001)).toBe('SELECT * FROM t LIMIT 10');
    expect(cap('SELECT * FROM t LIMIT 1001', 1001)).toBe('SELECT * FROM t LIMIT 1001');
    expect(cap('SELECT * FROM t LIMIT 5000, 10', 1001)).toBe('SELECT * FROM t LIMIT 5000, 10');
    expect(cap('SELECT * FROM t LIMIT 10 OFFSET 5000', 1001)).toBe('SELECT * FROM t LIMIT 10 OFFSET 5000');
  });

  it('lowers a large LIMIT in place, keeping the offset', () => {
    expect(cap('SELECT * FROM t ORDER BY id LIMIT 5000', 1001)).toBe('SELECT * FROM t ORDER BY id LIMIT 1001');
    expect(cap('SELECT * FROM t LIMIT 20, 5000', 1001)).toBe('SELECT * FROM t LIMIT 20, 1001');
    expect(cap('SELECT * FROM t LIMIT 5000 OFFSET 20', 1001)).toBe('SELECT * FROM t LIMIT 1001 OFFSET 20');
    expect(cap('SELECT * FROM t limit /* n */ 99999999999999999999', 3)).toBe('SELECT * FROM t limit /* n */ 3');
  });

  it('caps a UNION as a whole', () => {
    expect(cap('SELECT a FROM t UNION ALL SELECT b FROM u', 7)).toBe('SELECT a FROM t UNION ALL SELECT b FROM u\nLIMIT 7');
    expect(cap('SELECT a FROM t UNION SELECT b FROM u ORDER BY 1 LIMIT 100', 7)).toBe(
      'SELECT a FROM t UNION SELECT b FROM u ORDER BY 1 LIMIT 7',
    );
    expect(cap('(SELECT a FROM t LIMIT 100) UNION (SELECT b FROM u LIMIT 100)', 7)).toBe(
      '(SELECT a FROM t LIMIT 100) UNION (SELECT b FROM u LIMIT 100)\nLIMIT 7',
    );
    expect(cap('(SELECT a FROM t) UNION (SELECT b FROM u) LIMIT 100', 7)).toBe(
      '(SELECT a FROM t) UNION (SELECT b FROM u) LIMIT 7',
    );
  });

  it('ignores LIMITs inside CTEs and subqueries', () => {
    expect(cap('WITH x AS (SELECT * FROM t LIMIT 5000) SELECT * FROM x', 10)).toBe(
      'WITH x AS (SELECT * FROM t LIMIT 5000) SELECT * FROM x\nLIMIT 10',
    );
    expect(cap('WITH x AS (SELECT * FROM t LIMIT 5000) SELECT * FROM x LIMIT 50', 10)).toBe(
      'WITH x AS (SELECT * FROM t LIMIT 5000) SELECT * FROM x LIMIT 10',
    );
    expect(cap('SELECT * FROM t WHERE id IN (SELECT id FROM u) LIMIT 3', 10)).toBe(
      'SELECT * FROM t WHERE id IN (SELECT id FROM u) LIMIT 3',
    );
    expect(cap('(SELECT * FROM t LIMIT 5000)', 10)).toBe('(SELECT * FROM t LIMIT 5000)\nLIMIT 10');
  });

  it('wraps a top-level LIMIT it cannot edit exactly', () => {
    expect(applyRowCap({ sql: 'SELECT * FROM t LIMIT 0x10', tables: ['t'] }, 4)).toBe(
      `SELECT * FROM (\nSELECT * FROM t LIMIT 0x10\n) AS ${CAP_ALIAS} LIMIT 4`,
    );
  });

  it('refuses a nonsensical cap', () => {
    const query = validateSql('SELECT 1');
    for (const bad of [0, -1, 1.5, Number.NaN]) expect(() => applyRowCap(query, bad)).toThrow(RangeError);
  });
});
