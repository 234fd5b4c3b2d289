import { describe, expect, it } from 'vitest';
import {
  MAX_RETENTION_SECONDS,
  cutoffFromEpochMicros,
  parseBefore,
  parseRetention,
  policyCutoff,
} from '../../../src/services/retention-service.js';
import { AppError } from '../../../src/errors/app-error.js';
import { codeOf } from '../../helpers/app-error.js';

const NOW = new Date('2024-06-01T12:00:00.000Z');

describe('parseRetention', () => {
  it.each([
    ['7d', 604_800],
    ['12h', 43_200],
    ['30m', 1_800],
    ['3600s', 3_600],
    ['3600', 3_600],
    ['1w2d', 9 * 86_400],
    [' 2D ', 172_800],
    [3600, 3_600],
    [1, 1],
  ])('%j -> %d seconds', (input, seconds) => {
    expect(parseRetention(input)).toBe(seconds);
  });

  it.each([[0], [-5], [1.5], ['0'], ['0d'], ['-1d'], ['7 days'], ['1.5h'], [''], [null], [undefined], [true], [{ days: 7 }], [Number.NaN], [Infinity]])(
    'rejects %j with INVALID_TIME',
    (input) => {
      expect(codeOf(() => parseRetention(input))).toBe('INVALID_TIME');
    },
  );

  it('names the accepted forms and carries the field', () => {
    try {
      parseRetention('soon');
      expect.unreachable();
    } catch (error) {
      const e = error as AppError;
      expect(e.message).toContain('30d');
      expect(e.message).toContain('3600');
      expect(e.details).toMatchObject({ field: 'retention', value: 'soon' });
    }
  });

  it('caps the policy at 100 years', () => {
    expect(parseRetention(MAX_RETENTION_SECONDS)).toBe(MAX_RETENTION_SECONDS);
    expect(codeOf(() => parseRetention(MAX_RETENTION_SECONDS + 1))).toBe('INVALID_TIME');
    expect(codeOf(() => parseRetention('36501d'))).toBe('INVALID_TIME');
  });
});

describe('parseBefore', () => {
  it.each([
    ['2024-05-01T00:00:00Z', '2024-05-01 00:00:00.000000'],
    ['2024-05-01T00:00:00.123456Z', '2024-05-01 00:00:00.123456'],
    // Fractions beyond microseconds are cut, never rounded up.
    ['2024-05-01T00:00:00.1234569Z', '2024-05-01 00:00:00.123456'],
    ['2024-05-01T02:30:00+02:30', '2024-05-01 00:00:00.000000'],
    ['2024-04-30T20:00:00-0400', '2024-05-01 00:00:00.000000'],
    ['2024-05-01T00:00:00', '2024-05-01 00:00:00.000000'],
    ['2024-05-01 00:00', '2024-05-01 00:00:00.000000'],
    ['2024-05-01', '2024-05-01 00:00:00.000000'],
    ['1714521600', '2024-05-01 00:00:00.000000'],
    ['1714521600.5', '2024-05-01 00:00:00.500000'],
    [1714521600, '2024-05-01 00:00:00.000000'],
    [0, '1970-01-01 00:00:00.000000'],
  ])('%j -> %s', (input, sql) => {
    expect(parseBefore(input, NOW).sql).toBe(sql);
  });

  it('takes a Date (a parsed GraphQL DateTime)', () => {
    expect(parseBefore(new Date('2024-05-01T00:00:00.250Z'), NOW).sql).toBe('2024-05-01 00:00:00.250000');
    expect(codeOf(() => parseBefore(new Date('nope'), NOW))).toBe('INVALID_TIME');
    expect(codeOf(() => parseBefore(new Date(NOW.getTime() + 1), NOW))).toBe('INVALID_TIME');
  });

  it('answers ISO-8601 UTC with microseconds', () => {
    const cutoff = parseBefore('2024-05-01T00:00:00.000007Z', NOW);
    expect(cutoff.iso).toBe('2024-05-01T00:00:00.000007Z');
    expect(cutoff.epochMicros).toBe(1_714_521_600_000_007);
  });

  it('accepts exactly now', () => {
    expect(parseBefore(NOW.toISOString(), NOW).sql).toBe('2024-06-01 12:00:00.000000');
  });

  it.each([
    ['2024-06-01T12:00:00.001Z'],
    ['2024-06-01T12:00:00.000001Z'],
    [NOW.getTime() / 1000 + 1],
    [String(NOW.getTime() / 1000 + 60)],
    ['9999-12-31'],
    [1e30],
  ])('rejects the future %j with INVALID_TIME and says what now is', (input) => {
    try {
      parseBefore(input, NOW);
      expect.unreachable();
    } catch (error) {
      const e = error as AppError;
      expect(e.code).toBe('INVALID_TIME');
      expect(e.details).toMatchObject({ field: 'before', now: NOW.toISOString() });
    }
  });

  it.each([
    [undefined],
    [null],
    [''],
    ['yesterday'],
    ['May 1 2024'],
    ['2024-02-30'],
    ['2024-13-01'],
    ['2024-05-01T24:00:00Z'],
    ['2024-05-01T00:00:00+25:00'],
    ['-1'],
    [-1],
    ['1e9'],
    [Number.NaN],
    [['2024-05-01']],
    [true],
  ])('rejects %j with INVALID_TIME', (input) => {
    expect(codeOf(() => parseBefore(input, NOW))).toBe('INVALID_TIME');
  });
});

describe('policyCutoff', () => {
  it('is now minus the retention', () => {
    expect(policyCutoff(NOW, 86_400)?.sql).toBe('2024-05-31 12:00:00.000000');
  });

  it('is undefined when it would fall before 1970', () => {
    expect(policyCutoff(NOW, MAX_RETENTION_SECONDS)).toBeUndefined();
  });
});

describe('cutoffFromEpochMicros', () => {
  it('keeps the sub-millisecond digits', () => {
    expect(cutoffFromEpochMicros(1_714_521_600_123_456)).toEqual({
      sql: '2024-05-01 00:00:00.123456',
      iso: '2024-05-01T00:00:00.123456Z',
      epochMicros: 1_714_521_600_123_456,
    });
  });
});
