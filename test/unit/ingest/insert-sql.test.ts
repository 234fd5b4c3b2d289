import { describe, expect, it } from 'vitest';
import { buildInsertStatements } from '../../../src/ingest/insert-sql.js';

describe('buildInsertStatements', () => {
  it('escapes values, quotes identifiers and appends the suffix to every row', () => {
    expect(buildInsertStatements('t', ['a?', 'b`c', 'at'], [[1, "it's"], [null, 'x\\y']], ['2024-01-01 00:00:00.000000'])).toEqual([
      "INSERT INTO `t` (`a?`, `b``c`, `at`) VALUES (1,'it\\'s','2024-01-01 00:00:00.000000'),(NULL,'x\\\\y','2024-01-01 00:00:00.000000')",
    ]);
  });

  it('handles rows with no declared fields (only the suffix)', () => {
    expect(buildInsertStatements('t', ['at'], [[], []], ['z'])).toEqual(["INSERT INTO `t` (`at`) VALUES ('z'),('z')"]);
  });

  it('splits into several statements past the byte budget and keeps every row', () => {
    const rows = Array.from({ length: 100 }, (_, i) => [`row-${i}`]);
    const statements = buildInsertStatements('t', ['a'], rows, [], 200);
    expect(statements.length).toBeGreaterThan(5);
    for (const s of statements) expect(s.length).toBeLessThanOrEqual(200 + 20);
    const all = statements.flatMap((s) => [...s.matchAll(/'row-(\d+)'/g)].map((m) => Number(m[1])));
    expect(all).toEqual(rows.map((_, i) => i));
  });

  it('returns no statement for no rows', () => {
    expect(buildInsertStatements('t', ['a'], [])).toEqual([]);
  });
});
