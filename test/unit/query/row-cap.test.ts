import { describe, expect, it } from 'vitest';
import { applyRowCap, CAP_ALIAS, restateServerMessage } from '../../../src/query/row-cap.js';
import { validateSql } from '../../../src/query/validate-sql.js';
import { ValidationCache } from '../../../src/query/validation-cache.js';

function cap(sql: string, maxRows: number): string {
  return applyRowCap(validateSql(sql), maxRows);
}

describe('applyRowCap', () => {
  it('edits the same token from the lexer\'s tokens as from a fresh pass, leading blanks and comments included', () => {
    const cache = new ValidationCache();
    for (const text of [
      '   SELECT * FROM t ORDER BY id LIMIT 5000',
      '\n /* first */ SELECT * FROM t LIMIT 2, 5000 -- tail',
      '\t\tSELECT * FROM t LIMIT 5000 OFFSET 7;',
      '  SELECT * FROM t WHERE a = (SELECT MAX(a) FROM t LIMIT 1) LIMIT 9000',
      '  (SELECT * FROM t LIMIT 3) UNION (SELECT * FROM t LIMIT 4)',
    ]) {
      for (const validated of [validateSql(text), cache.validate(text), cache.validate(text)]) {
        expect(validated.lexed).toBeDefined();
        expect(applyRowCap(validated, 1001)).toBe(applyRowCap({ sql: validated.sql, tables: validated.tables }, 1001));
      }
    }
  });

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

describe('restateServerMessage', () => {
  const near = (snippet: string, line: number): string =>
    `You have an error in your SQL syntax; check the manual that corresponds to your MariaDB server version for the right syntax to use near '${snippet}' at line ${line}`;

  it('quotes the user text, not the appended LIMIT', () => {
    const user = "SELECT '{}'->>'$.a' AS v FROM t";
    const capped = applyRowCap({ sql: user, tables: ['t'] }, 10001);
    expect(restateServerMessage(near(">>'$.a' AS v FROM t\nLIMIT 10001", 1), user, capped)).toBe(near(">>'$.a' AS v FROM t", 1));
  });

  it('quotes the user LIMIT, not the lowered one', () => {
    const user = "SELECT '{}'->'$.a' AS v FROM t LIMIT 20000";
    const capped = applyRowCap({ sql: user, tables: ['t'] }, 4);
    expect(capped).toContain('LIMIT 4');
    expect(restateServerMessage(near(">'$.a' AS v FROM t LIMIT 4", 1), user, capped)).toBe(near(">'$.a' AS v FROM t LIMIT 20000", 1));
  });

  it('quotes the user text and counts lines in it when the query was wrapped', () => {
    const user = "SELECT a\nFROM t WHERE '{}'->'$.a' LIMIT 0x10";
    const capped = applyRowCap({ sql: user, tables: ['t'] }, 4);
    expect(capped.startsWith('SELECT * FROM (')).toBe(true);
    // The server counts the wrapper's first line: the user's line 2 is its line 3.
    expect(restateServerMessage(near(">'$.a' LIMIT 0x10\n) AS databalancer_capped LIMIT 4", 3), user, capped)).toBe(
      near(">'$.a' LIMIT 0x10", 2),
    );
  });

  it('says "at the end of the query" when the server points into the added text', () => {
    const user = 'SELECT 1 FROM t WHERE';
    const capped = applyRowCap({ sql: user, tables: ['t'] }, 11);
    expect(restateServerMessage(near('LIMIT 11', 2), user, capped)).toBe(
      'You have an error in your SQL syntax; check the manual that corresponds to your MariaDB server version for the right syntax to use at the end of the query',
    );
  });

  it('keeps a long snippet to 80 characters of the user text, and leaves other messages alone', () => {
    const user = `SELECT x FROM t WHERE ${'a + '.repeat(40)}1 !! 2`;
    const capped = applyRowCap({ sql: user, tables: ['t'] }, 5);
    const at = user.indexOf('a + ');
    expect(restateServerMessage(near(capped.slice(at, at + 80), 1), user, capped)).toBe(near(user.slice(at, at + 80), 1));
    expect(restateServerMessage("Unknown column 'x' in 'field list'", user, capped)).toBe("Unknown column 'x' in 'field list'");
    expect(restateServerMessage(near('nowhere', 1), user, capped)).toBe(near('nowhere', 1));
  });
});

describe('restateServerMessage with a lowered count before OFFSET', () => {
  it('quotes the user count and what follows it', () => {
    const user = "SELECT '{}'->'$.a' AS v FROM t LIMIT 20000 OFFSET 3";
    const capped = applyRowCap({ sql: user, tables: ['t'] }, 4);
    expect(capped).toBe("SELECT '{}'->'$.a' AS v FROM t LIMIT 4 OFFSET 3");
    const message = (snippet: string): string => `syntax error near '${snippet}' at line 1`;
    expect(restateServerMessage(message(">'$.a' AS v FROM t LIMIT 4 OFFSET 3"), user, capped)).toBe(message(">'$.a' AS v FROM t LIMIT 20000 OFFSET 3"));
    expect(restateServerMessage(message('OFFSET 3'), user, capped)).toBe(message('OFFSET 3'));
    expect(restateServerMessage(message('4 OFFSET 3'), user, capped)).toBe(message('20000 OFFSET 3'));
  });
});
