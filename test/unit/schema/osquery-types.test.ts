import { describe, expect, it } from 'vitest';
import { coerceUint64, osqueryCell, UINT64_COLUMN } from '../../../src/schema/osquery-types.js';
import { ValueCoercionError } from '../../../src/schema/time.js';

describe('uint64', () => {
  it('is BIGINT UNSIGNED', () => {
    expect(UINT64_COLUMN.ddl).toBe('BIGINT UNSIGNED');
  });

  it('coerces 0..2^64-1 exactly and refuses the rest', () => {
    expect(coerceUint64('18446744073709551615')).toBe('18446744073709551615');
    expect(coerceUint64('9007199254740993')).toBe('9007199254740993');
    expect(coerceUint64('42')).toBe(42);
    expect(coerceUint64(0)).toBe(0);
    expect(coerceUint64(null)).toBeNull();
    for (const bad of ['18446744073709551616', '-1', '01', ' 1', '1.0', -1, 1.5, 2 ** 60, true, {}]) {
      expect(() => coerceUint64(bad)).toThrow(ValueCoercionError);
    }
  });
});

describe('osqueryCell', () => {
  it('stores "" in number and bool columns as NULL, and keeps it in strings', () => {
    for (const type of ['int', 'uint64', 'float', 'bool', 'timestamp'] as const) expect(osqueryCell(type, '')).toEqual({ value: null });
    expect(osqueryCell('string', '')).toEqual({ value: '' });
  });

  it('keeps unsigned 64-bit values exact', () => {
    expect(osqueryCell('uint64', '18446744073709551615')).toEqual({ value: '18446744073709551615' });
    expect(osqueryCell('uint64', '18446744073709551616')).toEqual({ value: null, change: 'nulled' });
    expect(osqueryCell('int', '-9223372036854775808')).toEqual({ value: '-9223372036854775808' });
    expect(osqueryCell('int', '9223372036854775808')).toEqual({ value: null, change: 'nulled' });
  });

  it('reads strings and --logger_numerics numbers alike', () => {
    expect(osqueryCell('int', '97830')).toEqual({ value: 97830 });
    expect(osqueryCell('int', 97830)).toEqual({ value: 97830 });
    expect(osqueryCell('int', '-1')).toEqual({ value: -1 });
    expect(osqueryCell('float', '0.25')).toEqual({ value: 0.25 });
    expect(osqueryCell('float', 3)).toEqual({ value: 3 });
    expect(osqueryCell('string', 443)).toEqual({ value: '443' });
    expect(osqueryCell('bool', '1')).toEqual({ value: true });
  });

  it('never throws: a value that does not fit is NULL and reported, a long string is cut', () => {
    expect(osqueryCell('int', 'n/a')).toEqual({ value: null, change: 'nulled' });
    expect(osqueryCell('int', '1.5')).toEqual({ value: null, change: 'nulled' });
    expect(osqueryCell('float', 'nan')).toEqual({ value: null, change: 'nulled' });
    expect(osqueryCell('bool', 'yes')).toEqual({ value: null, change: 'nulled' });
    const long = osqueryCell('string', 'é'.repeat(40_000));
    expect(long.change).toBe('truncated');
    expect(Buffer.byteLength(long.value as string, 'utf8')).toBeLessThanOrEqual(65_535);
    expect(long.value).toBe('é'.repeat(32_767));
    expect(osqueryCell('timestamp', '2014-09-30 17:37:30.000000')).toEqual({ value: '2014-09-30 17:37:30.000000' });
    expect(osqueryCell('int', null)).toEqual({ value: null });
  });
});
