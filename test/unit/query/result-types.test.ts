import { describe, expect, it } from 'vitest';
import { sqlDateTimeToIso } from '../../../src/schema/time.js';
import { castCell, converterOf, decimalToJson, sqlTypeName, typeNameOfNumber, type CastField } from '../../../src/query/result-types.js';

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

describe('converterOf', () => {
  /** [type, length, characterSet, the text on the wire, mysql2's own value without a typeCast (dateStrings, supportBigNumbers)]. */
  const cases: Array<[string, number, number, string | null, unknown]> = [
    ['NEWDECIMAL', 10, 63, '41.5000', '41.5000'],
    ['NEWDECIMAL', 30, 63, '12345678901234567890.1', '12345678901234567890.1'],
    ['DATETIME', 26, 63, '2024-01-02 03:04:05.123456', '2024-01-02 03:04:05.123456'],
    ['TIMESTAMP', 19, 63, '2024-01-02 03:04:05', '2024-01-02 03:04:05'],
    ['DATE', 10, 63, '2024-01-02', '2024-01-02'],
    ['TIME', 10, 63, '-12:00:01', '-12:00:01'],
    ['TINY', 1, 63, '1', 1],
    ['TINY', 1, 63, '0', 0],
    ['TINY', 4, 63, '7', 7],
    ['LONGLONG', 20, 63, '9223372036854775807', '9223372036854775807'],
    ['LONGLONG', 20, 63, '42', 42],
    ['DOUBLE', 22, 63, '1.5', 1.5],
    ['YEAR', 4, 63, '2024', 2024],
    ['BLOB', 65535, 45, 'text', 'text'],
    ['VAR_STRING', 255, 63, '\xff', Buffer.from([0xff])],
    ['BIT', 8, 63, '\x05', Buffer.from([5])],
    ['NULL', 0, 63, null, null],
  ];
  it.each(cases)('converts %s(%i) charset %i like castCell', (type, length, characterSet, text, own) => {
    const convert = converterOf({ type, length, characterSet });
    expect(convert).not.toBeUndefined();
    const converted = own === null || convert === null || convert === undefined ? own : convert(own);
    expect(converted).toEqual(castCell({ type, length, string: () => text }, () => own));
  });
  it('leaves JSON columns to castCell, which parses their text', () => {
    expect(converterOf({ type: 'JSON', length: 0 })).toBeUndefined();
    expect(converterOf({ type: 'BLOB', length: 0, extendedFormat: 'json' })).toBeUndefined();
  });
});
