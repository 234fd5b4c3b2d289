import { describe, expect, it } from 'vitest';
import { statementOf, transactionRoundTrips, type StatementParts } from '../../../src/shards/write-transaction.js';
import { buildInsertStatements } from '../../../src/ingest/insert-sql.js';

const texts = (statements: StatementParts[]): string[] => statements.map((s) => s.parts.join(''));
const roundTrips = (statements: string[], maxChars: number): string[] => transactionRoundTrips(statements.map(statementOf), maxChars);

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
