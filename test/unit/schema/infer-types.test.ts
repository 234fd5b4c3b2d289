import { describe, expect, it } from 'vitest';
import { inferJsonType, inferSchema } from '../../../src/schema/infer-types.js';
import { appErrorOf } from '../../helpers/app-error.js';

describe('inferJsonType', () => {
  it('maps JSON values to types', () => {
    expect(inferJsonType(1)).toBe('int');
    expect(inferJsonType(-0)).toBe('int');
    expect(inferJsonType(1.5)).toBe('float');
    expect(inferJsonType(2 ** 60)).toBe('float');
    expect(inferJsonType(true)).toBe('bool');
    expect(inferJsonType('2024-05-01T00:00:00Z')).toBe('string');
    expect(inferJsonType({ a: 1 })).toBe('json');
    expect(inferJsonType([1])).toBe('json');
    expect(inferJsonType(null)).toBeNull();
  });
});

describe('inferSchema', () => {
  it('infers each new field from its first value, in first-seen order', () => {
    const result = inferSchema([{ host: 'a', pid: 12, load: 0.5, up: true, tags: ['x'], meta: { k: 1 } }, { host: 'b', extra: 'e' }]);
    expect(result.errors).toEqual([]);
    expect(result.added).toEqual([
      { name: 'host', type: 'string' },
      { name: 'pid', type: 'int' },
      { name: 'load', type: 'float' },
      { name: 'up', type: 'bool' },
      { name: 'tags', type: 'json' },
      { name: 'meta', type: 'json' },
      { name: 'extra', type: 'string' },
    ]);
    expect(result.fields).toEqual(result.added);
  });

  it('widens a new int field to float within one request', () => {
    const result = inferSchema([{ v: 1 }, { v: 2.5 }, { v: 3 }]);
    expect(result.errors).toEqual([]);
    expect(result.added).toEqual([{ name: 'v', type: 'float' }]);
  });

  it('a later value of another JSON type is a per-event error; the first type stays', () => {
    const result = inferSchema([{ n: 1 }, { n: '2' }, { n: 'three' }, { n: true }]);
    expect(result.added).toEqual([{ name: 'n', type: 'int' }]);
    // "2" fits an int column (digits), "three" does not, true does not.
    expect(result.errors.map((e) => [e.index, e.field, e.code])).toEqual([[2, 'n', 'INVALID_VALUE'], [3, 'n', 'INVALID_VALUE']]);
    expect(result.errors[0]?.message).toMatch(/^event 2: field "n" holds "three" but event 0 makes it int: .*; send one type per field, or declare the field's type in "schema"$/);
    const strings = inferSchema([{ s: 'a' }, { s: 5 }]);
    expect(strings.errors.map((e) => e.index)).toEqual([1]);
  });

  it('keeps stored columns\' types (columns never change type) and lets a declared schema win', () => {
    const stored = [{ name: 'n', type: 'int' as const }];
    const result = inferSchema([{ n: 1.5, s: 'x' }], { stored });
    expect(result.added).toEqual([{ name: 's', type: 'string' }]);
    expect(result.fields).toEqual([{ name: 'n', type: 'int' }, { name: 's', type: 'string' }]);
    expect(result.errors).toHaveLength(1);
    expect(result.errors[0]?.message).toMatch(/the family stores it as int: .*columns never change type/);

    const declared = inferSchema([{ when: '2024-05-01T00:00:00Z', n: '7' }], { declared: [{ name: 'when', type: 'timestamp' }] });
    expect(declared.errors).toEqual([]);
    expect(declared.fields).toEqual([{ name: 'when', type: 'timestamp' }, { name: 'n', type: 'string' }]);
    expect(declared.added).toEqual([{ name: 'n', type: 'string' }]);
  });

  it('fields only ever null get no column yet', () => {
    const result = inferSchema([{ a: null, b: 1 }, { a: null }]);
    expect(result.added).toEqual([{ name: 'b', type: 'int' }]);
    expect(result.nullOnly).toEqual(['a']);
    expect(inferSchema([{ a: null }, { a: 'x' }]).nullOnly).toEqual([]);
  });

  it('reports bad names, case collisions and non-objects per event', () => {
    const result = inferSchema([{ id: 1 }, 'x', { Name: 'a' }, { name: 'b' }], { stored: [] });
    expect(result.errors.map((e) => [e.index, e.field, e.code])).toEqual([
      [0, 'id', 'INVALID_FIELD_NAME'],
      [1, null, 'BAD_USER_INPUT'],
      [3, 'name', 'INVALID_FIELD_NAME'],
    ]);
    expect(result.errors[2]?.message).toMatch(/use the exact name "Name"/);
  });

  it('refuses more new columns than max_columns allows', () => {
    const error = appErrorOf(() => inferSchema([{ a: 1, b: 2 }], { stored: [{ name: 'x', type: 'int' }], maxColumns: 2 }));
    expect(error.code).toBe('TOO_MANY_COLUMNS');
    expect(error.details).toEqual({ limit: 2, count: 3 });
  });
});
