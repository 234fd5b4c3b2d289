import { describe, expect, it } from 'vitest';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { capRows, cellBytes, rowBytes, utf8Length, UNCOMPILABLE_NAMES, type ResultRow } from '../../../src/query/run-select.js';

function row(values: Record<string, unknown>): ResultRow {
  return Object.assign(Object.create(null) as ResultRow, values);
}

describe('result sizes', () => {
  it('counts a cell as its JSON text: strings as UTF-8 with quotes', () => {
    expect(cellBytes(null)).toBe(4);
    expect(cellBytes(true)).toBe(4);
    expect(cellBytes(false)).toBe(5);
    expect(cellBytes(12.5)).toBe(4);
    expect(cellBytes('héllo')).toBe(8);
    expect(cellBytes({ a: [1, 2] })).toBe(JSON.stringify({ a: [1, 2] }).length);
    expect(rowBytes(row({ a: 'xy', ['__proto__']: 1 }))).toBeGreaterThanOrEqual(JSON.stringify({ a: 'xy' }).length + '"__proto__":1'.length);
  });
});

describe('capRows (results merged from several shards)', () => {
  const rows = Array.from({ length: 10 }, (_, i) => row({ n: i, s: 'x'.repeat(100) }));
  const size = rowBytes(rows[0] as ResultRow);

  it('keeps everything under both limits', () => {
    expect(capRows(rows, { maxRows: 10, maxBytes: 10 * size })).toEqual({ rows, truncatedReason: null });
  });

  it('cuts by rows, then by bytes, and names the limit that cut', () => {
    expect(capRows(rows, { maxRows: 3, maxBytes: 1e9 })).toMatchObject({ truncatedReason: 'rows' });
    expect(capRows(rows, { maxRows: 3, maxBytes: 1e9 }).rows).toHaveLength(3);
    const cut = capRows(rows, { maxRows: 10, maxBytes: 4 * size + 1 });
    expect(cut.rows).toHaveLength(4);
    expect(cut.truncatedReason).toBe('bytes');
    expect(capRows(rows, { maxRows: 10, maxBytes: size - 1 }).rows).toEqual([]);
  });

  it('keeps a reason a part already had', () => {
    expect(capRows(rows.slice(0, 2), { maxRows: 10, maxBytes: 1e9 }, 'bytes').truncatedReason).toBe('bytes');
  });
});

describe('utf8Length', () => {
  const samples = ['', 'abc', 'né', '日本語', '😀', 'a😀b', '\ud800', 'x\udc00y', '\ud83d', `${'é'.repeat(40)}${'a'.repeat(40)}`, 'ß'.repeat(64), '€'.repeat(65)];
  it.each(samples)('counts %j as Buffer.byteLength does', (text) => {
    expect(utf8Length(text)).toBe(Buffer.byteLength(text, 'utf8'));
  });
});

describe('UNCOMPILABLE_NAMES', () => {
  it("holds every name mysql2's compiled row parser refuses (a mysql2 upgrade that adds one fails here)", () => {
    const require = createRequire(import.meta.url);
    const helpers = require(join(dirname(require.resolve('mysql2')), 'lib', 'helpers.js')) as { privateObjectProps: Set<string> };
    expect([...helpers.privateObjectProps].filter((name) => !UNCOMPILABLE_NAMES.has(name))).toEqual([]);
    expect(helpers.privateObjectProps.size).toBeGreaterThan(0);
  });
});
