import { describe, expect, it } from 'vitest';
import { AppError } from '../../../src/errors/app-error.js';
import {
  MAX_JSON_NESTING,
  MAX_STRING_BYTES,
  ValueCoercionError,
  coerceEvents,
  coerceValue,
  nestingExceeds,
  previewValue,
} from '../../../src/schema/coerce-value.js';
import { parseDeclaredSchema, type DeclaredField } from '../../../src/schema/declared-schema.js';
import type { DeclaredType } from '../../../src/schema/type-mapping.js';
import dogRegistry from '../../fixtures/schemas/dog_registry.json' with { type: 'json' };
import osqueryProcesses from '../../fixtures/schemas/osquery_processes.json' with { type: 'json' };
import { appErrorOf } from '../../helpers/app-error.js';

function expectRejected(type: DeclaredType, value: unknown): void {
  expect(() => coerceValue(type, value)).toThrow(ValueCoercionError);
}

function nested(depth: number): unknown {
  let value: unknown = 1;
  for (let i = 0; i < depth; i++) value = i % 2 === 0 ? [value] : { k: value };
  return value;
}

describe('coerceValue: null and missing', () => {
  it.each(['string', 'int', 'float', 'bool', 'timestamp', 'date', 'json'] as const)('%s: null/undefined -> NULL', (type) => {
    expect(coerceValue(type, null)).toBeNull();
    expect(coerceValue(type, undefined)).toBeNull();
  });
});

describe('coerceValue: string', () => {
  it.each(['', 'Rex', '名前', '🐕', 'a\u0000b', "it's; DROP TABLE x"])('accepts %j unchanged', (value) => {
    expect(coerceValue('string', value)).toBe(value);
  });

  it.each([1, 0, true, false, {}, [], ['a'], { a: 1 }])('rejects the non-string %j', (value) => {
    expectRejected('string', value);
  });

  it('accepts exactly 65,535 UTF-8 bytes and rejects one more', () => {
    expect(MAX_STRING_BYTES).toBe(65_535);
    expect(coerceValue('string', 'a'.repeat(65_535))).toHaveLength(65_535);
    expectRejected('string', 'a'.repeat(65_536));
  });

  it('counts bytes, not characters', () => {
    // 'é' is 2 bytes: 32,767 of them are 65,534 bytes, 32,768 are 65,536.
    expect(coerceValue('string', 'é'.repeat(32_767))).toHaveLength(32_767);
    expectRejected('string', 'é'.repeat(32_768));
  });

  it('rejects lone surrogates', () => {
    expectRejected('string', 'a\uD800');
    expectRejected('string', '\uDC00');
  });
});

describe('coerceValue: int', () => {
  it.each([
    [0, 0],
    [-0, 0],
    [1, 1],
    [-42, -42],
    [1.0, 1],
    [Number.MAX_SAFE_INTEGER, Number.MAX_SAFE_INTEGER],
    [Number.MIN_SAFE_INTEGER, Number.MIN_SAFE_INTEGER],
    ['0', 0],
    ['-0', 0],
    ['42', 42],
    ['-42', -42],
    ['9007199254740991', 9007199254740991],
    ['9007199254740993', '9007199254740993'],
    ['9223372036854775807', '9223372036854775807'],
    ['-9223372036854775808', '-9223372036854775808'],
  ] as const)('accepts %j as %j', (value, expected) => {
    expect(coerceValue('int', value)).toBe(expected);
  });

  it('binds -0 as 0', () => {
    expect(Object.is(coerceValue('int', -0), 0)).toBe(true);
  });

  it.each([
    '9223372036854775808',
    '-9223372036854775809',
    '99999999999999999999',
    '007',
    '00',
    '-',
    '',
    ' 1',
    '1 ',
    '+1',
    '1e3',
    '1.0',
    '1.5',
    '0x10',
    '1_000',
    '١٢',
    'NaN',
    'Infinity',
    '9'.repeat(1000),
  ])('rejects the string %j', (value) => {
    expectRejected('int', value);
  });

  it.each([1.5, -0.1, 2 ** 53, -(2 ** 53), 2 ** 63, 1e21, Number.NaN, Number.POSITIVE_INFINITY, true, false, {}, []])(
    'rejects %j',
    (value) => {
      expectRejected('int', value);
    },
  );

  it('tells to send big numbers as strings', () => {
    expect(() => coerceValue('int', 9007199254740993)).toThrow(/string/);
  });

  it('accepts bigint within range', () => {
    expect(coerceValue('int', 5n)).toBe(5);
    expect(coerceValue('int', 2n ** 63n - 1n)).toBe('9223372036854775807');
    expectRejected('int', 2n ** 63n);
  });
});

describe('coerceValue: uint64', () => {
  it('takes 0..2^64-1 as safe numbers or digit strings, big ones kept as digits', () => {
    expect(coerceValue('uint64', 7)).toBe(7);
    expect(coerceValue('uint64', '42')).toBe(42);
    expect(coerceValue('uint64', '18446744073709551615')).toBe('18446744073709551615');
    expect(coerceValue('uint64', null)).toBeNull();
  });

  it.each([-1, 1.5, 2 ** 60, '-1', '01', '18446744073709551616', ' 1', 'abc', true, {}])('refuses %j', (value) => {
    expectRejected('uint64', value);
  });
});

describe('coerceValue: float', () => {
  it.each([
    [0, 0],
    [3.14, 3.14],
    [-1e5, -1e5],
    [Number.MAX_VALUE, Number.MAX_VALUE],
    [5e-324, 5e-324],
    ['10', 10],
    ['3.14', 3.14],
    ['-1e5', -1e5],
    ['1E+3', 1000],
    ['0.5', 0.5],
    ['-0', 0],
    ['1e-400', 0],
  ] as const)('accepts %j as %j', (value, expected) => {
    expect(coerceValue('float', value)).toBe(expected);
  });

  it.each([
    '',
    ' ',
    ' 1',
    '1 ',
    'NaN',
    'nan',
    'Infinity',
    '-Infinity',
    '0x10',
    '0b1',
    '.5',
    '1.',
    '+1',
    '007',
    '1e',
    '1,5',
    '1e400',
    Number.NaN,
    Number.POSITIVE_INFINITY,
    true,
    {},
    [1],
  ])('rejects %j', (value) => {
    expectRejected('float', value);
  });
});

describe('coerceValue: bool', () => {
  it.each([
    [true, true],
    [false, false],
    [1, true],
    [0, false],
    ['true', true],
    ['TRUE', true],
    ['True', true],
    ['false', false],
    ['FALSE', false],
    ['1', true],
    ['0', false],
  ] as const)('accepts %j as %j', (value, expected) => {
    expect(coerceValue('bool', value)).toBe(expected);
  });

  it.each([2, -1, 0.5, '', 'yes', 'no', 'on', 't', 'f', ' true', 'true ', '01', '1.0', {}, [], [true]])('rejects %j', (value) => {
    expectRejected('bool', value);
  });
});

describe('coerceValue: timestamp', () => {
  it.each([
    ['2024-01-02T03:04:05Z', '2024-01-02 03:04:05.000000'],
    ['2024-01-02T03:04:05z', '2024-01-02 03:04:05.000000'],
    ['2024-01-02t03:04:05Z', '2024-01-02 03:04:05.000000'],
    ['2024-01-02 03:04:05', '2024-01-02 03:04:05.000000'],
    ['2024-01-02T03:04:05', '2024-01-02 03:04:05.000000'],
    ['2024-01-02T03:04', '2024-01-02 03:04:00.000000'],
    ['2024-01-02T03:04:05.123456Z', '2024-01-02 03:04:05.123456'],
    ['2024-01-02T03:04:05.1Z', '2024-01-02 03:04:05.100000'],
    ['2024-01-02T03:04:05,25Z', '2024-01-02 03:04:05.250000'],
    ['2024-01-02T03:04:05.123456789Z', '2024-01-02 03:04:05.123456'],
    ['2024-01-02T03:04:05.999999+01:00', '2024-01-02 02:04:05.999999'],
    ['2024-01-02T03:04:05-05:30', '2024-01-02 08:34:05.000000'],
    ['2024-01-02T03:04:05+0530', '2024-01-01 21:34:05.000000'],
    ['2024-01-02T03:04:05+05', '2024-01-01 22:04:05.000000'],
    ['2024-01-01T00:30:00+01:00', '2023-12-31 23:30:00.000000'],
    ['2024-02-29T12:00:00Z', '2024-02-29 12:00:00.000000'],
    ['2000-02-29T00:00:00Z', '2000-02-29 00:00:00.000000'],
    ['2024-02-28T23:30:00-01:00', '2024-02-29 00:30:00.000000'],
    ['2024-01-02', '2024-01-02 00:00:00.000000'],
    ['1000-01-01T00:00:00Z', '1000-01-01 00:00:00.000000'],
    ['9999-12-31T23:59:59.999999Z', '9999-12-31 23:59:59.999999'],
    ['0999-12-31T23:30:00-01:00', '1000-01-01 00:30:00.000000'],
  ])('accepts %j as %j', (value, expected) => {
    expect(coerceValue('timestamp', value)).toBe(expected);
  });

  it.each([
    [0, '1970-01-01 00:00:00.000000'],
    [1714566600, '2024-05-01 12:30:00.000000'],
    [1714566600.25, '2024-05-01 12:30:00.250000'],
    [1700000000.123456, '2023-11-14 22:13:20.123456'],
    [-0.5, '1969-12-31 23:59:59.500000'],
    [-1, '1969-12-31 23:59:59.000000'],
    ['1714566600', '2024-05-01 12:30:00.000000'],
    ['1700000000.123456', '2023-11-14 22:13:20.123456'],
    ['1700000000.1234569', '2023-11-14 22:13:20.123456'],
    ['1.7e9', '2023-11-14 22:13:20.000000'],
    ['-30610224000', '1000-01-01 00:00:00.000000'],
    ['253402300799.999999', '9999-12-31 23:59:59.999999'],
  ] as const)('accepts epoch seconds %j as %j', (value, expected) => {
    expect(coerceValue('timestamp', value)).toBe(expected);
  });

  it.each([
    '2023-02-29T00:00:00Z',
    '2100-02-29T00:00:00Z',
    '2024-02-30',
    '2024-04-31T00:00:00Z',
    '2024-13-01T00:00:00Z',
    '2024-00-10T00:00:00Z',
    '2024-01-00',
    '2024-01-02T24:00:00Z',
    '2024-01-02T23:60:00Z',
    '2024-01-02T23:59:60Z',
    '2024-01-02T03:04:05+24:00',
    '2024-01-02T03:04:05+01:60',
    '0999-12-31T23:59:59Z',
    '0050-01-01T00:00:00Z',
    '0000-01-01',
    '9999-12-31T23:30:00-01:00',
    '10000-01-01T00:00:00Z',
    '+002024-01-01T00:00:00Z',
    '2024-1-2',
    '2024/01/02',
    '02/01/2024',
    'Tue May  7 10:01:02 2024 UTC',
    'yesterday',
    '',
    ' 2024-01-02',
    '2024-01-02T03:04:05Z ',
    '2024-01-02T03:04:05 UTC',
    '2024-01-02T03:04:05.Z',
    '1714566600000',
    '-30610224001',
    '253402300800',
    '1e400',
    '0x10',
  ])('rejects %j', (value) => {
    expectRejected('timestamp', value);
  });

  it.each([1714566600000, -1e12, 1e300, Number.NaN, Number.POSITIVE_INFINITY, true, {}, []])('rejects %j', (value) => {
    expectRejected('timestamp', value);
  });

  it('hints at milliseconds when epoch seconds are far out of range', () => {
    expect(() => coerceValue('timestamp', 1714566600000)).toThrow(/milliseconds/);
  });
});

describe('coerceValue: date', () => {
  it.each([
    ['2024-02-29', '2024-02-29'],
    ['2000-02-29', '2000-02-29'],
    ['1000-01-01', '1000-01-01'],
    ['9999-12-31', '9999-12-31'],
    ['2024-05-01T12:00:00Z', '2024-05-01'],
    ['2024-05-01T23:30:00-05:00', '2024-05-02'],
    ['2024-05-01T00:30:00+01:00', '2024-04-30'],
  ])('accepts %j as %j', (value, expected) => {
    expect(coerceValue('date', value)).toBe(expected);
  });

  it.each([
    '2023-02-29',
    '1900-02-29',
    '2024-04-31',
    '2024-13-01',
    '0999-12-31',
    '0000-00-00',
    '2024-5-1',
    '20240501',
    '2024-05-01 ',
    '',
    '1714566600',
    1714566600,
    0,
    true,
    {},
  ])('rejects %j', (value) => {
    expectRejected('date', value);
  });
});

describe('coerceValue: json', () => {
  it.each([
    [{ a: 1, b: [true, null, 'x'] }, '{"a":1,"b":[true,null,"x"]}'],
    [[], '[]'],
    [{}, '{}'],
    ['text', '"text"'],
    [0, '0'],
    [false, 'false'],
    [{ 'quote"': "it's\u0000" }, '{"quote\\"":"it\'s\\u0000"}'],
    [{ emoji: '🐕' }, '{"emoji":"🐕"}'],
  ])('accepts %j as %j', (value, expected) => {
    expect(coerceValue('json', value)).toBe(expected);
  });

  it('accepts nesting up to the limit and rejects deeper', () => {
    expect(MAX_JSON_NESTING).toBe(30);
    expect(JSON.parse(String(coerceValue('json', nested(30))))).toEqual(nested(30));
    expectRejected('json', nested(31));
  });

  it('does not overflow the stack on absurd nesting', () => {
    expectRejected('json', nested(100_000));
  });

  it('rejects lone surrogates anywhere inside', () => {
    expectRejected('json', { a: ['\uD800'] });
    expectRejected('json', { '\uDC00': 1 });
  });

  it('rejects values JSON cannot carry', () => {
    expectRejected('json', Number.NaN);
    expectRejected('json', [Number.POSITIVE_INFINITY]);
    expectRejected('json', { d: new Date(0) });
    expectRejected('json', 1n);
  });
});

describe('previewValue', () => {
  it('keeps short scalars and cuts long text to about 100 characters', () => {
    expect(previewValue('abc')).toBe('abc');
    expect(previewValue(5)).toBe(5);
    expect(previewValue(true)).toBe(true);
    expect(previewValue(null)).toBeNull();
    expect(previewValue({ a: 1 })).toBe('{"a":1}');
    expect(previewValue('x'.repeat(1000))).toBe(`${'x'.repeat(100)}...`);
    expect(previewValue(['y'.repeat(1000)])).toBe(`["${'y'.repeat(98)}...`);
  });
});

describe('coerceEvents', () => {
  const fields: DeclaredField[] = [
    { name: 'name', type: 'string' },
    { name: 'age', type: 'int' },
    { name: 'at', type: 'timestamp' },
  ];

  it('returns declared columns in schema order and one row per event', () => {
    const result = coerceEvents(fields, [
      { at: '2024-01-02T03:04:05Z', name: 'Rex', age: '7' },
      { name: 'Fido' },
      { name: null, age: null, at: null },
      {},
    ]);
    expect(result.columns).toEqual(['name', 'age', 'at']);
    expect(result.rows).toEqual([
      ['Rex', 7, '2024-01-02 03:04:05.000000'],
      ['Fido', null, null],
      [null, null, null],
      [null, null, null],
    ]);
  });

  it('accepts an empty batch and an empty schema', () => {
    expect(coerceEvents(fields, [])).toEqual({ columns: ['name', 'age', 'at'], rows: [] });
    expect(coerceEvents([], [{}, {}])).toEqual({ columns: [], rows: [[], []] });
  });

  it.each([null, undefined, {}, 'logs', 3, { 0: {} }])('rejects logs %j that is not an array', (logs) => {
    expect(appErrorOf(() => coerceEvents(fields, logs)).code).toBe('BAD_USER_INPUT');
  });

  it.each([null, 'x', 5, [], [{ name: 'a' }], true])('rejects the event %j naming its index', (event) => {
    const error = appErrorOf(() => coerceEvents(fields, [{ name: 'ok' }, event]));
    expect(error.code).toBe('BAD_USER_INPUT');
    expect(error.details).toEqual({ index: 1 });
  });

  it('rejects an undeclared field naming the index and the field', () => {
    const error = appErrorOf(() => coerceEvents(fields, [{ name: 'a' }, { name: 'b' }, { name: 'c', color: 'red' }]));
    expect(error.code).toBe('UNDECLARED_FIELD');
    expect(error.status).toBe(400);
    expect(error.details).toEqual({ index: 2, field: 'color' });
    expect(error.message).toContain('"schema"');
  });

  it('matches event keys to declared names exactly (case matters)', () => {
    const error = appErrorOf(() => coerceEvents(fields, [{ Name: 'a' }]));
    expect(error.code).toBe('UNDECLARED_FIELD');
    expect(error.details).toEqual({ index: 0, field: 'Name' });
  });

  it('does not treat Object.prototype members as declared fields', () => {
    const event: unknown = JSON.parse('{"__proto__": 1}');
    expect(appErrorOf(() => coerceEvents(fields, [event])).code).toBe('UNDECLARED_FIELD');
    expect(appErrorOf(() => coerceEvents(fields, [{ toString: 'x' }])).details).toEqual({ index: 0, field: 'toString' });
  });

  it('binds a field named like an Object.prototype member only from the event\'s own key', () => {
    // parseDeclaredSchema refuses "__proto__" (the driver cannot read it back); the own-key logic still holds for it.
    const protoFields: DeclaredField[] = [{ name: '__proto__', type: 'int' }];
    expect(coerceEvents(protoFields, [JSON.parse('{"__proto__": "5"}'), {}]).rows).toEqual([[5], [null]]);
  });

  it('rejects a bad value naming index, field, type and value', () => {
    const error = appErrorOf(() => coerceEvents(fields, [{ age: 1 }, { age: 2 }, { age: 'seven' }]));
    expect(error.code).toBe('INVALID_VALUE');
    expect(error.status).toBe(400);
    expect(error.details).toEqual({ index: 2, field: 'age', type: 'int', value: 'seven' });
  });

  it('keeps a number value as a number in details', () => {
    const error = appErrorOf(() => coerceEvents(fields, [{ age: 1.5 }]));
    expect(error.details).toEqual({ index: 0, field: 'age', type: 'int', value: 1.5 });
  });

  it('truncates a long bad value in details', () => {
    const error = appErrorOf(() => coerceEvents(fields, [{ name: 'x'.repeat(70_000) }]));
    expect(error.code).toBe('INVALID_VALUE');
    expect(error.details).toMatchObject({ index: 0, field: 'name', type: 'string' });
    expect(String(error.details['value']).length).toBeLessThanOrEqual(103);
    expect(error.message.length).toBeLessThan(600);
  });

  it('shows an object value as JSON text', () => {
    const error = appErrorOf(() => coerceEvents(fields, [{ name: { first: 'Rex' } }]));
    expect(error.details).toEqual({ index: 0, field: 'name', type: 'string', value: '{"first":"Rex"}' });
  });

  it('reports the first bad event when several are bad', () => {
    const error = appErrorOf(() => coerceEvents(fields, [{ age: '1' }, { at: 'soon' }, { age: 'x' }]));
    expect(error.details).toMatchObject({ index: 1, field: 'at', type: 'timestamp', value: 'soon' });
  });

  it('coerces the dog_registry fixture', () => {
    const result = coerceEvents(parseDeclaredSchema(dogRegistry.schema), dogRegistry.logs);
    expect(result.columns).toEqual(Object.keys(dogRegistry.schema));
    expect(result.rows).toEqual([
      [
        'Rex',
        'beagle',
        100,
        0.41,
        true,
        '2024-03-01 00:30:00.500000',
        '2020-02-29',
        '{"name":"Ann","phones":["+1 555 0100"]}',
      ],
      ['Fido', null, 12, null, false, '2024-05-01 12:30:00.250000', null, null],
    ]);
  });

  it('coerces the osquery_processes fixture, whose numbers arrive as strings', () => {
    const result = coerceEvents(parseDeclaredSchema(osqueryProcesses.schema), osqueryProcesses.logs);
    const first = Object.fromEntries(result.columns.map((c, i) => [c, result.rows[0]?.[i]]));
    expect(first).toEqual({
      hostIdentifier: 'web-01',
      calendarTime: 'Tue May  7 10:01:02 2024 UTC',
      unixTime: '2024-05-07 10:01:02.000000',
      name: 'nginx',
      pid: 4242,
      parent: 1,
      uid: 0,
      resident_size: '9223372036854775807',
      user_time: -1,
      cpu_percent: 12.5,
      on_disk: true,
      decorations: '{"host_uuid":"4740D59F-699E-5B29-960B-979AAF9BBEEB"}',
    });
    expect(result.rows[1]).toEqual([
      'web-01',
      'Tue May  7 10:01:03 2024 UTC',
      '2024-05-07 10:01:03.000000',
      'sshd',
      17,
      1,
      0,
      0,
      3,
      0,
      false,
      '{}',
    ]);
  });
});

describe('values nested far deeper than MAX_JSON_NESTING', () => {
  const deepArray = (depth: number): unknown => JSON.parse(`${'['.repeat(depth)}1${']'.repeat(depth)}`);
  const deepObject = (depth: number): unknown => JSON.parse(`${'{"a":'.repeat(depth)}1${'}'.repeat(depth)}`);

  it.each([
    ['json', 5_000],
    ['json', 100_000],
    ['string', 5_000],
    ['int', 100_000],
  ] as const)('a %s field given a value nested %i deep is INVALID_VALUE with a short preview, no stack overflow', (type, depth) => {
    for (const value of [deepArray(depth), deepObject(depth)]) {
      const error = appErrorOf(() => coerceEvents([{ name: 'j', type }], [{ j: value }]));
      expect(error.code).toBe('INVALID_VALUE');
      expect(error.details).toMatchObject({ index: 0, field: 'j', type });
      expect(String(error.details['value']).length).toBeLessThan(200);
      expect(error.message.length).toBeLessThan(1000);
    }
  });

  it('previewValue shows a too-deep value by its opening, nestingExceeds stops at the limit', () => {
    expect(previewValue(deepArray(100_000), 10)).toBe('[[[[[[[[[[...');
    expect(previewValue(deepObject(100_000), 12)).toBe('{"a":{"a":{"...');
    expect(previewValue(deepArray(5), 100)).toBe('[[[[[1]]]]]');
    expect(nestingExceeds(deepArray(30), 30)).toBe(false);
    expect(nestingExceeds(deepArray(31), 30)).toBe(true);
    expect(nestingExceeds({ a: [1, { b: [] }], c: 2 }, 4)).toBe(false);
    expect(nestingExceeds({ a: [1, { b: [] }], c: 2 }, 3)).toBe(true);
    expect(nestingExceeds('x', 0)).toBe(false);
  });

  it('30 levels are accepted, 31 refused', () => {
    expect(coerceValue('json', deepArray(30))).toBe(`${'['.repeat(30)}1${']'.repeat(30)}`);
    expect(() => coerceValue('json', deepArray(31))).toThrow(ValueCoercionError);
  });
});
