import { describe, expect, it } from 'vitest';
import { AppError } from '../../../src/errors/app-error.js';
import {
  ID_COLUMN,
  INGESTED_AT_COLUMN,
  INTERNAL_PREFIX,
  RAW_LOGS_TABLE,
  RESERVED_FIELD_NAMES,
  columnNameKey,
  isReservedFieldName,
  quoteIdentifier,
  validateFamilyName,
  validateFieldName,
} from '../../../src/schema/identifiers.js';
import { appErrorOf } from '../../helpers/app-error.js';

describe('constants', () => {
  it('match the design', () => {
    expect(RAW_LOGS_TABLE).toBe('raw_logs');
    expect(INTERNAL_PREFIX).toBe('databalancer_');
    expect(ID_COLUMN).toBe('id');
    expect(INGESTED_AT_COLUMN).toBe('_ingested_at');
    expect(RESERVED_FIELD_NAMES).toEqual(['id', '_ingested_at', '_raw']);
  });
});

describe('validateFamilyName', () => {
  it.each(['dog_registry', 'a', 'A1', '_x', '123', 'a'.repeat(64), 'raw_logs2', 'my_databalancer_x', 'databalancer'])(
    'accepts %s',
    (name) => {
      expect(validateFamilyName(name)).toBe(name);
    },
  );

  it.each([
    '',
    'a'.repeat(65),
    'dog-registry',
    'dog registry',
    'dogs;drop',
    'a`b',
    "a'b",
    'a.b',
    'é',
    'dog\u0000',
    'dog\n',
    'dogs🐕',
  ])('rejects %j with INVALID_FAMILY_NAME', (name) => {
    const error = appErrorOf(() => validateFamilyName(name));
    expect(error.code).toBe('INVALID_FAMILY_NAME');
    expect(error.details).toEqual({ family: name });
    expect(error.status).toBe(400);
  });

  it.each(['raw_logs', 'RAW_LOGS', 'Raw_Logs'])('rejects the reserved table %s', (name) => {
    const error = appErrorOf(() => validateFamilyName(name));
    expect(error.code).toBe('INVALID_FAMILY_NAME');
    expect(error.details).toEqual({ family: name });
  });

  it.each(['seq_1_to_1000', 'SEQ_1_TO_5', 'Seq_0_To_10_Step_2', 'seq_10_to_1_step_3'])('rejects the Sequence engine name %s', (name) => {
    const error = appErrorOf(() => validateFamilyName(name));
    expect(error.code).toBe('INVALID_FAMILY_NAME');
    expect(error.message).toMatch(/Sequence engine/);
    expect(error.details).toEqual({ family: name });
  });

  it.each(['seq_1_to', 'seq_a_to_b', 'seq_1_to_2_step', 'myseq_1_to_2', 'seq_1_to_2_x', 'seq_1_to_2_step_3_'])('accepts the ordinary name %s', (name) => {
    expect(validateFamilyName(name)).toBe(name);
  });

  it.each(['databalancer_', 'databalancer_catalog', 'DataBalancer_placements', 'DATABALANCER_X'])(
    'rejects the internal prefix in %s',
    (name) => {
      expect(appErrorOf(() => validateFamilyName(name)).code).toBe('INVALID_FAMILY_NAME');
    },
  );

  it.each([undefined, null, 42, true, {}, ['dogs']])('rejects the non-string %j', (name) => {
    const error = appErrorOf(() => validateFamilyName(name));
    expect(error.code).toBe('INVALID_FAMILY_NAME');
    expect(error.details).toHaveProperty('family');
  });

  it('shortens a huge name in details', () => {
    const error = appErrorOf(() => validateFamilyName('x'.repeat(10_000)));
    expect(String(error.details['family']).length).toBeLessThan(110);
  });
});

describe('validateFieldName', () => {
  it.each([
    'name',
    'Name',
    'a b',
    ' leading space',
    'a`b',
    'a``b',
    'a"b',
    "a'b",
    'a;b',
    'drop table x; --',
    'a.b',
    'a?b',
    'x as y',
    '\\',
    'é',
    '名前',
    'a'.repeat(64),
    'é'.repeat(64),
    'ab\u00a0',
    'identifier',
    'id2',
    'ingested_at',
    'constructor',
    'prototype',
    '__proto',
    'proto__',
  ])('accepts %j', (name) => {
    expect(validateFieldName(name)).toBe(name);
  });

  it.each([
    ['empty', ''],
    ['65 characters', 'a'.repeat(65)],
    ['65 two-byte characters', 'é'.repeat(65)],
    ['NUL', 'a\u0000b'],
    ['trailing space', 'name '],
    ['trailing tab', 'name\t'],
    ['trailing newline', 'name\n'],
    ['only spaces', '   '],
    ['emoji', 'dog🐕'],
    ['supplementary CJK', '𠀀'],
    ['lone high surrogate', 'a\uD800'],
    ['lone low surrogate', '\uDC00b'],
    ['__proto__ (mysql2 cannot read it back)', '__proto__'],
    ['__PROTO__ (any case)', '__PROTO__'],
    ['__defineGetter__', '__defineGetter__'],
    ['__defineSetter__', '__defineSetter__'],
    ['__lookupGetter__', '__lookupGetter__'],
    ['__lookupSetter__', '__lookupSetter__'],
  ])('rejects %s', (_label, name) => {
    const error = appErrorOf(() => validateFieldName(name));
    expect(error.code).toBe('INVALID_FIELD_NAME');
    expect(error.details).toEqual({ field: name });
  });

  it('counts code points, not bytes: 64 BMP characters of 3 UTF-8 bytes each are fine', () => {
    expect(validateFieldName('名'.repeat(64))).toBe('名'.repeat(64));
    expect(appErrorOf(() => validateFieldName('名'.repeat(65))).code).toBe('INVALID_FIELD_NAME');
  });

  it.each(['id', 'ID', 'Id', 'iD', '_ingested_at', '_INGESTED_AT', '_Ingested_At', 'íd', 'İD'])(
    'rejects the reserved name %s',
    (name) => {
      const error = appErrorOf(() => validateFieldName(name));
      expect(error.code).toBe('INVALID_FIELD_NAME');
      expect(error.details).toEqual({ field: name });
      expect(error.message).toContain('reserved');
    },
  );

  it('rejects a non-string', () => {
    expect(appErrorOf(() => validateFieldName(5 as unknown as string)).code).toBe('INVALID_FIELD_NAME');
  });
});

describe('columnNameKey', () => {
  it.each([
    ['Name', 'name'],
    ['NAME', 'name'],
    ['\u212A', 'k'],
    ['İ', 'i'],
    ['é', 'e'],
    ['e\u0301', 'e'],
    ['Straße', 'strase'],
  ])('folds %j to %j', (name, key) => {
    expect(columnNameKey(name)).toBe(key);
  });

  it('keeps different names apart', () => {
    expect(columnNameKey('a_b')).not.toBe(columnNameKey('ab'));
    expect(columnNameKey('a b')).not.toBe(columnNameKey('ab'));
    expect(columnNameKey('name ')).not.toBe(columnNameKey('name'));
  });

  it('drives isReservedFieldName', () => {
    expect(isReservedFieldName('Id')).toBe(true);
    expect(isReservedFieldName('_ingested_AT')).toBe(true);
    expect(isReservedFieldName('idx')).toBe(false);
  });
});

describe('quoteIdentifier', () => {
  it.each([
    ['dogs', '`dogs`'],
    ['a`b', '`a``b`'],
    ['`', '````'],
    ['``', '``````'],
    ["a'b", "`a'b`"],
    ['a"b', '`a"b`'],
    ['a;b', '`a;b`'],
    ['a.b', '`a.b`'],
    ['x` int); DROP TABLE t; --', '`x`` int); DROP TABLE t; --`'],
    ['名前', '`名前`'],
  ])('quotes %j as %j', (name, quoted) => {
    expect(quoteIdentifier(name)).toBe(quoted);
  });

  it('makes every backtick inside come in pairs, so the identifier cannot end early', () => {
    const quoted = quoteIdentifier('a`b``c```');
    const inner = quoted.slice(1, -1);
    expect(inner.replace(/``/g, '')).not.toContain('`');
  });

  it.each(['', 'a\u0000b'])('refuses %j', (name) => {
    expect(appErrorOf(() => quoteIdentifier(name)).code).toBe('BAD_USER_INPUT');
  });
});
