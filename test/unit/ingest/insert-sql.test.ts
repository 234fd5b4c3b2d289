import { describe, expect, it } from 'vitest';
import { buildInsertStatements, transactionRoundTrips } from '../../../src/ingest/insert-sql.js';

describe('buildInsertStatements', () => {
  it('quotes identifiers and joins the row tuples', () => {
    expect(buildInsertStatements('t', ['a?', 'b`c', 'at'], ["(1,'it\\'s','z')", "(NULL,'x','z')"])).toEqual([
      "INSERT INTO `t` (`a?`, `b``c`, `at`) VALUES (1,'it\\'s','z'),(NULL,'x','z')",
    ]);
  });

  it('splits into several statements past the byte budget and keeps every row in order', () => {
    const tuples = Array.from({ length: 100 }, (_, i) => `('row-${i}')`);
    const statements = buildInsertStatements('t', ['a'], tuples, 200);
    expect(statements.length).toBeGreaterThan(5);
    for (const s of statements) expect(s.length).toBeLessThanOrEqual(200);
    const all = statements.flatMap((s) => [...s.matchAll(/'row-(\d+)'/g)].map((m) => Number(m[1])));
    expect(all).toEqual(tuples.map((_, i) => i));
  });

  it('puts a row longer than the budget in a statement of its own', () => {
    const statements = buildInsertStatements('t', ['a'], ["('a')", `('${'x'.repeat(300)}')`, "('b')"], 100);
    expect(statements).toHaveLength(3);
    expect(statements[1]).toContain('x'.repeat(300));
  });

  it('returns no statement for no rows', () => {
    expect(buildInsertStatements('t', ['a'], [])).toEqual([]);
  });
});

describe('transactionRoundTrips', () => {
  it('sends a transaction in one round trip when it fits', () => {
    expect(transactionRoundTrips(['A', 'B'], 1000)).toEqual(['START TRANSACTION;\nA;\nB;\nCOMMIT']);
    expect(transactionRoundTrips([], 1000)).toEqual([]);
  });

  it('splits between statements past the budget: the first text opens the transaction, the last commits', () => {
    expect(transactionRoundTrips(['AAAA', 'BBBB', 'CC'], 6)).toEqual(['START TRANSACTION;\nAAAA', 'BBBB', 'CC;\nCOMMIT']);
    expect(transactionRoundTrips(['A', 'B', 'CCCCCCCCCC', 'D'], 6)).toEqual(['START TRANSACTION;\nA;\nB', 'CCCCCCCCCC', 'D;\nCOMMIT']);
    const statements = Array.from({ length: 50 }, (_, i) => `S${i}`.padEnd(30, '.'));
    const texts = transactionRoundTrips(statements, 100);
    expect(texts.length).toBeGreaterThan(10);
    expect(texts.join(';\n')).toBe(['START TRANSACTION', ...statements, 'COMMIT'].join(';\n'));
  });
});
