import { describe, expect, it } from 'vitest';
import { buildInsertStatements } from '../../../src/ingest/insert-sql.js';
import type { StatementParts } from '../../../src/shards/write-transaction.js';

const statementText = (statement: StatementParts): string => statement.parts.join('');
const texts = (statements: StatementParts[]): string[] => statements.map(statementText);

describe('buildInsertStatements', () => {
  it('quotes identifiers and joins the row tuples', () => {
    expect(texts(buildInsertStatements('t', ['a?', 'b`c', 'at'], ["(1,'it\\'s','z')", "(NULL,'x','z')"]))).toEqual([
      "INSERT INTO `t` (`a?`, `b``c`, `at`) VALUES (1,'it\\'s','z'),(NULL,'x','z')",
    ]);
  });

  it('splits into several statements past the budget, keeps every row in order, and counts characters exactly', () => {
    const tuples = Array.from({ length: 100 }, (_, i) => `('row-${i}')`);
    const statements = buildInsertStatements('t', ['a'], tuples, 200);
    expect(statements.length).toBeGreaterThan(5);
    for (const s of statements) {
      expect(statementText(s).length).toBe(s.chars);
      expect(s.chars).toBeLessThanOrEqual(200);
    }
    const all = texts(statements).flatMap((s) => [...s.matchAll(/'row-(\d+)'/g)].map((m) => Number(m[1])));
    expect(all).toEqual(tuples.map((_, i) => i));
  });

  it('puts a row longer than the budget in a statement of its own', () => {
    const statements = texts(buildInsertStatements('t', ['a'], ["('a')", `('${'x'.repeat(300)}')`, "('b')"], 100));
    expect(statements).toHaveLength(3);
    expect(statements[1]).toContain('x'.repeat(300));
  });

  it('returns no statement for no rows', () => {
    expect(buildInsertStatements('t', ['a'], [])).toEqual([]);
  });
});
