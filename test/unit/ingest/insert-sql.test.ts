import { describe, expect, it } from 'vitest';
import {
  buildInsertStatements,
  statementOf,
  statementText,
  transactionRoundTrips,
  type StatementParts,
} from '../../../src/ingest/insert-sql.js';

const texts = (statements: StatementParts[]): string[] => statements.map(statementText);
const roundTrips = (statements: string[], maxChars: number): string[] => transactionRoundTrips(statements.map(statementOf), maxChars);

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

describe('transactionRoundTrips', () => {
  it('sends a transaction in one round trip when it fits', () => {
    expect(roundTrips(['A', 'B'], 1000)).toEqual(['START TRANSACTION;\nA;\nB;\nCOMMIT']);
    expect(roundTrips([], 1000)).toEqual([]);
  });

  it('splits between statements past the budget: the first text opens the transaction, the last commits', () => {
    expect(roundTrips(['AAAA', 'BBBB', 'CC'], 6)).toEqual(['START TRANSACTION;\nAAAA', 'BBBB', 'CC;\nCOMMIT']);
    expect(roundTrips(['A', 'B', 'CCCCCCCCCC', 'D'], 6)).toEqual(['START TRANSACTION;\nA;\nB', 'CCCCCCCCCC', 'D;\nCOMMIT']);
    const statements = Array.from({ length: 50 }, (_, i) => `S${i}`.padEnd(30, '.'));
    const sent = roundTrips(statements, 100);
    expect(sent.length).toBeGreaterThan(10);
    expect(sent.join(';\n')).toBe(['START TRANSACTION', ...statements, 'COMMIT'].join(';\n'));
  });

  it('joins the pieces of built INSERTs into the same text as their statements', () => {
    const statements = buildInsertStatements('t', ['a'], ['(1)', '(2)', '(3)'], 30);
    expect(transactionRoundTrips(statements, 1000)).toEqual([`START TRANSACTION;\n${texts(statements).join(';\n')};\nCOMMIT`]);
  });
});
