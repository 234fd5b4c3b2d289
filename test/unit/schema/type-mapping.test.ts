import { describe, expect, it } from 'vitest';
import {
  ACCEPTED_TYPE_NAMES,
  DECLARED_TYPES,
  columnSqlType,
  declaredTypeOfColumn,
  parseDeclaredType,
  type DeclaredType,
} from '../../../src/schema/type-mapping.js';

describe('parseDeclaredType', () => {
  it.each([
    ['string', 'string'],
    ['text', 'string'],
    ['int', 'int'],
    ['integer', 'int'],
    ['bigint', 'int'],
    ['long', 'int'],
    ['float', 'float'],
    ['double', 'float'],
    ['number', 'float'],
    ['real', 'float'],
    ['bool', 'bool'],
    ['boolean', 'bool'],
    ['timestamp', 'timestamp'],
    ['datetime', 'timestamp'],
    ['time', 'timestamp'],
    ['date', 'date'],
    ['json', 'json'],
    ['object', 'json'],
    ['array', 'json'],
    ['uint64', 'uint64'],
    ['unsigned_bigint', 'uint64'],
    ['UINT64', 'uint64'],
  ] as const)('maps %s to %s', (raw, expected) => {
    expect(parseDeclaredType(raw)).toBe(expected);
  });

  it('is case-insensitive', () => {
    expect(parseDeclaredType('STRING')).toBe('string');
    expect(parseDeclaredType('BigInt')).toBe('int');
    expect(parseDeclaredType('DateTime')).toBe('timestamp');
    expect(parseDeclaredType('JSON')).toBe('json');
  });

  it.each(['', ' int', 'int ', 'varchar', 'int64', 'tinyint', 'constructor', '__proto__', 'toString', 'ſtring', 'İnt', 'in t', 'uint64 ', '_proto_', 'unsigned_bigint_x'])(
    'rejects %j',
    (raw) => {
      expect(parseDeclaredType(raw)).toBeUndefined();
    },
  );

  it('lists every alias as accepted', () => {
    for (const name of ACCEPTED_TYPE_NAMES) expect(parseDeclaredType(name)).toBeDefined();
    expect(ACCEPTED_TYPE_NAMES).toHaveLength(21);
  });
});

describe('columnSqlType', () => {
  it('maps each declared type to its column type', () => {
    const expected: Record<DeclaredType, string> = {
      string: 'TEXT',
      int: 'BIGINT',
      float: 'DOUBLE',
      bool: 'BOOLEAN',
      timestamp: 'DATETIME(6)',
      date: 'DATE',
      json: 'JSON',
      uint64: 'BIGINT UNSIGNED',
    };
    expect(DECLARED_TYPES).toEqual(Object.keys(expected));
    for (const type of DECLARED_TYPES) expect(columnSqlType(type)).toBe(expected[type]);
  });
});

describe('declaredTypeOfColumn', () => {
  it.each([
    [{ dataType: 'bigint', columnType: 'bigint(20)' }, 'int'],
    [{ dataType: 'bigint', columnType: 'bigint' }, 'int'],
    [{ dataType: 'BIGINT', columnType: 'BIGINT(20)' }, 'int'],
    [{ dataType: 'tinyint', columnType: 'tinyint(1)' }, 'bool'],
    [{ dataType: 'tinyint', columnType: 'tinyint' }, 'bool'],
    [{ dataType: 'text', columnType: 'text' }, 'string'],
    [{ dataType: 'double', columnType: 'double' }, 'float'],
    [{ dataType: 'datetime', columnType: 'datetime(6)' }, 'timestamp'],
    [{ dataType: 'datetime', columnType: 'datetime' }, 'timestamp'],
    [{ dataType: 'date', columnType: 'date' }, 'date'],
    [{ dataType: 'json', columnType: 'json' }, 'json'],
    [{ dataType: 'longtext', columnType: 'longtext', checkJson: true }, 'json'],
    [{ dataType: 'bigint', columnType: 'bigint(20) unsigned' }, 'uint64'],
    [{ dataType: 'bigint', columnType: 'bigint unsigned' }, 'uint64'],
  ] as const)('maps %j to %s', (column, expected) => {
    expect(declaredTypeOfColumn(column)).toBe(expected);
  });

  it.each([
    { dataType: 'longtext', columnType: 'longtext' },
    { dataType: 'longtext', columnType: 'longtext', checkJson: false },
    { dataType: 'int', columnType: 'int(11)' },
    { dataType: 'bigint', columnType: 'bigint(20) unsigned zerofill' },
    { dataType: 'tinyint', columnType: 'tinyint(4)' },
    { dataType: 'double', columnType: 'double unsigned' },
    { dataType: 'varchar', columnType: 'varchar(255)' },
    { dataType: 'timestamp', columnType: 'timestamp(6)' },
    { dataType: 'mediumtext', columnType: 'mediumtext' },
  ])('does not claim %j', (column) => {
    expect(declaredTypeOfColumn(column)).toBeUndefined();
  });

  it('round-trips every declared type through the DDL spelling each server reports', () => {
    const reported: Record<DeclaredType, { dataType: string; columnType: string; checkJson?: boolean }> = {
      string: { dataType: 'text', columnType: 'text' },
      int: { dataType: 'bigint', columnType: 'bigint(20)' },
      float: { dataType: 'double', columnType: 'double' },
      bool: { dataType: 'tinyint', columnType: 'tinyint(1)' },
      timestamp: { dataType: 'datetime', columnType: 'datetime(6)' },
      date: { dataType: 'date', columnType: 'date' },
      json: { dataType: 'longtext', columnType: 'longtext', checkJson: true },
      uint64: { dataType: 'bigint', columnType: 'bigint(20) unsigned' },
    };
    for (const type of DECLARED_TYPES) expect(declaredTypeOfColumn(reported[type])).toBe(type);
  });
});
