import { describe, expect, it } from 'vitest';
import { AppError } from '../../../src/errors/app-error.js';
import {
  compileFilter,
  compileOrderBy,
  compileRowsQuery,
  MAX_FILTER_DEPTH,
  MAX_FILTER_NODES,
  MAX_IN_VALUES,
  type FilterColumn,
} from '../../../src/query/compile-filter.js';
import { codeOf } from '../../helpers/app-error.js';

const columns: FilterColumn[] = [
  { name: 'id', type: 'int' },
  { name: 'name', type: 'string' },
  { name: 'weight', type: 'int' },
  { name: 'score', type: 'float' },
  { name: 'good', type: 'bool' },
  { name: 'seen', type: 'timestamp' },
  { name: 'born', type: 'date' },
  { name: 'meta', type: 'json' },
  { name: 'we`ird; name', type: 'string' },
  { name: 'pid', type: 'uint64' },
];

const compile = (where: unknown) => compileFilter(where, 'dogs', columns);

describe('compileFilter', () => {
  it('matches everything when absent, null or empty', () => {
    expect(compile(undefined)).toEqual({ sql: '1 = 1', values: [] });
    expect(compile(null)).toEqual({ sql: '1 = 1', values: [] });
    expect(compile({})).toEqual({ sql: '1 = 1', values: [] });
  });

  it('compiles each comparison operator to a placeholder', () => {
    expect(compile({ field: 'name', eq: 'spot' })).toEqual({ sql: '`name` = ?', values: ['spot'] });
    expect(compile({ field: 'name', ne: 'spot' })).toEqual({ sql: '`name` <> ?', values: ['spot'] });
    expect(compile({ field: 'score', lt: 1.5 })).toEqual({ sql: '`score` < ?', values: [1.5] });
    expect(compile({ field: 'score', lte: 1.5 })).toEqual({ sql: '`score` <= ?', values: [1.5] });
    expect(compile({ field: 'score', gt: 1.5 })).toEqual({ sql: '`score` > ?', values: [1.5] });
    expect(compile({ field: 'score', gte: 1.5 })).toEqual({ sql: '`score` >= ?', values: [1.5] });
  });

  it('casts int values so integers past 2^53 compare exactly', () => {
    expect(compile({ field: 'weight', eq: '9223372036854775807' })).toEqual({
      sql: '`weight` = CAST(? AS SIGNED)',
      values: ['9223372036854775807'],
    });
    expect(compile({ field: 'weight', gt: '10' })).toEqual({ sql: '`weight` > CAST(? AS SIGNED)', values: [10] });
  });

  it('casts uint64 values so they compare as unsigned numbers, exactly', () => {
    expect(compile({ field: 'pid', gt: '100' })).toEqual({ sql: '`pid` > CAST(? AS UNSIGNED)', values: [100] });
    expect(compile({ field: 'pid', lte: '18446744073709551615' })).toEqual({
      sql: '`pid` <= CAST(? AS UNSIGNED)',
      values: ['18446744073709551615'],
    });
    expect(compile({ field: 'pid', in: [1, '2'] })).toEqual({ sql: '`pid` IN (CAST(? AS UNSIGNED), CAST(? AS UNSIGNED))', values: [1, 2] });
    expect(codeOf(() => compile({ field: 'pid', gt: -1 }))).toBe('INVALID_VALUE');
    expect(codeOf(() => compile({ field: 'pid', like: '1%' }))).toBe('BAD_USER_INPUT');
  });

  it('coerces values to the column type as ingest does', () => {
    expect(compile({ field: 'seen', gte: '2024-01-02T03:04:05+01:00' }).values).toEqual(['2024-01-02 02:04:05.000000']);
    expect(compile({ field: 'seen', lt: 0 }).values).toEqual(['1970-01-01 00:00:00.000000']);
    expect(compile({ field: 'good', eq: 'true' }).values).toEqual([true]);
    expect(compile({ field: 'born', eq: '2020-02-29' }).values).toEqual(['2020-02-29']);
  });

  it('compiles in, like and isNull', () => {
    expect(compile({ field: 'name', in: ['a', 'b'] })).toEqual({ sql: '`name` IN (?, ?)', values: ['a', 'b'] });
    expect(compile({ field: 'weight', in: [1, 2] })).toEqual({ sql: '`weight` IN (CAST(? AS SIGNED), CAST(? AS SIGNED))', values: [1, 2] });
    expect(compile({ field: 'name', in: [] })).toEqual({ sql: '1 = 0', values: [] });
    expect(compile({ field: 'name', like: 'sp%' })).toEqual({ sql: '`name` LIKE ?', values: ['sp%'] });
    expect(compile({ field: 'meta', isNull: true })).toEqual({ sql: '`meta` IS NULL', values: [] });
    expect(compile({ field: 'meta', isNull: false })).toEqual({ sql: '`meta` IS NOT NULL', values: [] });
  });

  it('ANDs several operators on one field and ignores null operators', () => {
    expect(compile({ field: 'weight', gte: 1, lt: 10, eq: null })).toEqual({
      sql: '(`weight` < CAST(? AS SIGNED)) AND (`weight` >= CAST(? AS SIGNED))',
      values: [10, 1],
    });
  });

  it('combines with and/or/not, keeping values in placeholder order', () => {
    const result = compile({
      or: [{ field: 'name', eq: 'a' }, { and: [{ field: 'weight', gt: 1 }, { not: { field: 'name', like: 'x%' } }] }],
    });
    expect(result.sql).toBe('(`name` = ?) OR ((`weight` > CAST(? AS SIGNED)) AND (NOT (`name` LIKE ?)))');
    expect(result.values).toEqual(['a', 1, 'x%']);
    expect(compile({ and: [] }).sql).toBe('1 = 1');
    expect(compile({ or: [] }).sql).toBe('1 = 0');
  });

  it('keeps injection attempts as bound values and quotes odd column names', () => {
    const evil = "x' OR '1'='1'; DROP TABLE dogs; --";
    expect(compile({ field: 'name', eq: evil })).toEqual({ sql: '`name` = ?', values: [evil] });
    expect(compile({ field: 'we`ird; name', eq: 'v' })).toEqual({ sql: '`we``ird; name` = ?', values: ['v'] });
  });

  it('refuses unknown fields, naming the known columns', () => {
    try {
      compile({ field: 'nmae', eq: 'x' });
      throw new Error('expected an error');
    } catch (error) {
      expect(error).toBeInstanceOf(AppError);
      expect((error as AppError).code).toBe('BAD_USER_INPUT');
      expect((error as AppError).details).toMatchObject({ field: 'nmae', family: 'dogs' });
      expect((error as AppError).message).toContain('"weight"');
    }
    expect(codeOf(() => compile({ field: 'NAME', eq: 'x' }))).toBe('BAD_USER_INPUT');
    expect(codeOf(() => compile({ field: '`name` OR 1=1 --', eq: 'x' }))).toBe('BAD_USER_INPUT');
    expect(codeOf(() => compile({ field: '_ingested_at', isNull: true }))).toBe('BAD_USER_INPUT');
  });

  it('refuses malformed nodes', () => {
    expect(codeOf(() => compile('weight > 1'))).toBe('BAD_USER_INPUT');
    expect(codeOf(() => compile({ field: 'name' }))).toBe('BAD_USER_INPUT');
    expect(codeOf(() => compile({ eq: 'x' }))).toBe('BAD_USER_INPUT');
    expect(codeOf(() => compile({ field: 'name', between: [1, 2] }))).toBe('BAD_USER_INPUT');
    expect(codeOf(() => compile({ and: { field: 'name', eq: 'x' } }))).toBe('BAD_USER_INPUT');
    expect(codeOf(() => compile({ field: 'name', isNull: 'yes' }))).toBe('BAD_USER_INPUT');
    expect(codeOf(() => compile({ field: 'name', in: 'a' }))).toBe('BAD_USER_INPUT');
    expect(codeOf(() => compile({ field: 'name', in: ['a', null] }))).toBe('BAD_USER_INPUT');
  });

  it('refuses operators that do not apply to the column type', () => {
    expect(codeOf(() => compile({ field: 'weight', like: '1%' }))).toBe('BAD_USER_INPUT');
    expect(codeOf(() => compile({ field: 'good', gt: true }))).toBe('BAD_USER_INPUT');
    expect(codeOf(() => compile({ field: 'meta', eq: { a: 1 } }))).toBe('BAD_USER_INPUT');
  });

  it('refuses values that do not fit the column type with INVALID_VALUE', () => {
    expect(codeOf(() => compile({ field: 'weight', eq: 'ten' }))).toBe('INVALID_VALUE');
    expect(codeOf(() => compile({ field: 'weight', eq: { toString: 1 } }))).toBe('INVALID_VALUE');
    expect(codeOf(() => compile({ field: 'name', eq: 5 }))).toBe('INVALID_VALUE');
    expect(codeOf(() => compile({ field: 'name', eq: { a: 1 } }))).toBe('INVALID_VALUE');
    expect(codeOf(() => compile({ field: 'seen', eq: 'yesterday' }))).toBe('INVALID_VALUE');
    expect(codeOf(() => compile({ field: 'name', in: ['a', 1] }))).toBe('INVALID_VALUE');
  });

  it('bounds the size and depth of a filter', () => {
    expect(codeOf(() => compile({ field: 'weight', in: Array.from({ length: MAX_IN_VALUES + 1 }, (_, i) => i) }))).toBe('BAD_USER_INPUT');
    expect(codeOf(() => compile({ or: Array.from({ length: MAX_FILTER_NODES }, () => ({ field: 'weight', eq: 1 })) }))).toBe('BAD_USER_INPUT');
    let deep: Record<string, unknown> = { field: 'weight', eq: 1 };
    for (let i = 0; i <= MAX_FILTER_DEPTH; i++) deep = { not: deep };
    expect(codeOf(() => compile(deep))).toBe('BAD_USER_INPUT');
  });
});

describe('compileOrderBy', () => {
  it('appends id as the final key unless present', () => {
    expect(compileOrderBy(undefined, 'dogs', columns)).toBe('`id` ASC');
    expect(compileOrderBy([{ field: 'weight', direction: 'DESC' }, { field: 'name' }], 'dogs', columns)).toBe('`weight` DESC, `name` ASC, `id` ASC');
    expect(compileOrderBy([{ field: 'id', direction: 'DESC' }], 'dogs', columns)).toBe('`id` DESC');
  });

  it('refuses unknown, json, repeated keys and bad directions', () => {
    expect(codeOf(() => compileOrderBy([{ field: 'nope' }], 'dogs', columns))).toBe('BAD_USER_INPUT');
    expect(codeOf(() => compileOrderBy([{ field: 'meta' }], 'dogs', columns))).toBe('BAD_USER_INPUT');
    expect(codeOf(() => compileOrderBy([{ field: 'name' }, { field: 'name' }], 'dogs', columns))).toBe('BAD_USER_INPUT');
    expect(codeOf(() => compileOrderBy([{ field: 'name', direction: 'DESC; DROP TABLE x' }], 'dogs', columns))).toBe('BAD_USER_INPUT');
  });
});

describe('compileRowsQuery', () => {
  it('selects every column, asks for one row more than the limit, and defaults limit and offset', () => {
    const q = compileRowsQuery({ table: 'dogs', columns: columns.slice(0, 3), where: { field: 'weight', gt: 3 } });
    expect(q).toEqual({
      sql: 'SELECT `id`, `name`, `weight` FROM `dogs` WHERE `weight` > CAST(? AS SIGNED) ORDER BY `id` ASC LIMIT 101 OFFSET 0',
      values: [3],
      columns: ['id', 'name', 'weight'],
      limit: 100,
      offset: 0,
    });
    const page = compileRowsQuery({ table: 'dogs', columns, limit: 1000, offset: 20 });
    expect(page.sql).toMatch(/LIMIT 1001 OFFSET 20$/);
  });

  it('refuses limits and offsets out of range', () => {
    expect(codeOf(() => compileRowsQuery({ table: 'dogs', columns, limit: 1001 }))).toBe('BAD_USER_INPUT');
    expect(codeOf(() => compileRowsQuery({ table: 'dogs', columns, limit: -1 }))).toBe('BAD_USER_INPUT');
    expect(codeOf(() => compileRowsQuery({ table: 'dogs', columns, limit: 1.5 }))).toBe('BAD_USER_INPUT');
    expect(codeOf(() => compileRowsQuery({ table: 'dogs', columns, offset: -1 }))).toBe('BAD_USER_INPUT');
    expect(codeOf(() => compileRowsQuery({ table: 'dogs', columns, offset: '5' }))).toBe('BAD_USER_INPUT');
  });
});
