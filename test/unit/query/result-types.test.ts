import { describe, expect, it } from 'vitest';
import { sqlDateTimeToIso } from '../../../src/schema/time.js';
import { castCell, decimalToJson, sqlTypeName, typeNameOfNumber, type CastField } from '../../../src/query/result-types.js';

function field(type: string, text: string | null, extra: Partial<CastField> = {}): CastField {
  return { type, length: 0, string: () => text, ...extra };
}

describe('decimalToJson', () => {
  it('gives numbers when a double holds the value exactly enough', () => {
    expect(decimalToJson('41.5000')).toBe(41.5);
    expect(decimalToJson('-0.25')).toBe(-0.25);
    expect(decimalToJson('123456789012345')).toBe(123456789012345);
  });
  it('keeps long decimals as strings', () => {
    expect(decimalToJson('12345678901234567890.1')).toBe('12345678901234567890.1');
    expect(decimalToJson('0.1234567890123456789')).toBe('0.1234567890123456789');
  });
});

describe('castCell', () => {
  it('turns DATETIME into ISO-8601 UTC keeping microseconds', () => {
    expect(sqlDateTimeToIso('2024-01-02 03:04:05.123456')).toBe('2024-01-02T03:04:05.123456Z');
    expect(castCell(field('DATETIME', '2024-01-02 03:04:05'), () => null)).toBe('2024-01-02T03:04:05Z');
  });
  it('parses JSON columns, native or flagged by MariaDB metadata', () => {
    expect(castCell(field('JSON', '{"a":[1,2]}'), () => null)).toEqual({ a: [1, 2] });
    expect(castCell(field('BLOB', '[1]', { extendedFormat: 'json' }), () => null)).toEqual([1]);
    expect(castCell(field('JSON', null), () => null)).toBeNull();
  });
  it('maps TINYINT(1) to booleans and leaves other tinyints as numbers', () => {
    expect(castCell(field('TINY', '1', { length: 1 }), () => 1)).toBe(true);
    expect(castCell(field('TINY', '0', { length: 1 }), () => 0)).toBe(false);
    expect(castCell(field('TINY', '7', { length: 4 }), () => 7)).toBe(7);
  });
  it('passes big integers through as mysql2 gives them (strings past 2^53)', () => {
    expect(castCell(field('LONGLONG', '9223372036854775807'), () => '9223372036854775807')).toBe('9223372036854775807');
  });
});

describe('type names', () => {
  it('maps protocol numbers and mysql2 names to SQL type names', () => {
    expect(typeNameOfNumber(8)).toBe('LONGLONG');
    expect(typeNameOfNumber(252)).toBe('BLOB');
    expect(typeNameOfNumber(undefined)).toBe('UNKNOWN');
    expect(sqlTypeName({ type: 'LONGLONG', length: 20 })).toBe('bigint');
    expect(sqlTypeName({ type: 'BLOB', length: 65535 })).toBe('text');
    expect(sqlTypeName({ type: 'BLOB', length: 0, extendedFormat: 'json' })).toBe('json');
    // A bool field (TINYINT(1)) is named as describe names it: information_schema's DATA_TYPE.
    expect(sqlTypeName({ type: 'TINY', length: 1 })).toBe('tinyint');
    expect(sqlTypeName({ type: 'NEWDECIMAL', length: 10 })).toBe('decimal');
  });
});
