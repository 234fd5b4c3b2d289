import { describe, expect, it } from 'vitest';
import { AppError } from '../../../src/errors/app-error.js';
import { ValueCoercionError, coerceEvents, coerceValue } from '../../../src/schema/coerce-value.js';
import type { DeclaredField } from '../../../src/schema/declared-schema.js';
import { coerceToLiteral, eventTuples } from '../../../src/ingest/event-literals.js';
import { quoteString, sqlLiteral } from '../../../src/schema/sql-literal.js';
import { DECLARED_TYPES, type DeclaredType } from '../../../src/schema/type-mapping.js';

/** What the slow path writes: the literal, or the coercion error's message. */
function slowLiteral(type: DeclaredType, value: unknown): string {
  try {
    return sqlLiteral(coerceValue(type, value));
  } catch (error) {
    if (error instanceof ValueCoercionError) return `error: ${error.message}`;
    throw error;
  }
}

function fastLiteral(type: DeclaredType, value: unknown): string {
  try {
    return coerceToLiteral(type, value);
  } catch (error) {
    if (error instanceof ValueCoercionError) return `error: ${error.message}`;
    throw error;
  }
}

/**
 * Values of every shape a JSON body can carry, chosen to sit on each fast
 * path's edges: every character the string path must escape (alone and inside
 * text), strings either side of its length bound in 1-, 2-, 3- and 4-byte
 * characters, integers either side of 2^53, non-finite numbers, and timestamp
 * and date strings that are valid, invalid or out of range. A few hundred
 * pseudo-random values on top catch combinations nobody listed; the set is
 * small enough to stay well under a second (7 types x ~1,400 values).
 */
function sampleValues(): unknown[] {
  let seed = 11;
  const random = (): number => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
  const alphabet = ["'", '"', '\\', '\0', '\n', '\r', '\x1a', '\t', 'a', 'Z', '0', '-', ':', 'T', ' ', 'é', '😀', '\ud800', '\udc00', '`', '%'];
  // SHORT_STRING_UNITS in event-literals.ts: 65,535 bytes / 3.
  const bound = Math.floor(65_535 / 3);
  const values: unknown[] = [
    null, undefined, true, false, 0, -0, 1, -1, 1.5, -2.25, 1e21, 1e-7, 2 ** 53 - 1, 2 ** 53, -(2 ** 53 - 1), -(2 ** 53), 0.1 + 0.2,
    Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY, Number.MAX_VALUE, Number.MIN_VALUE,
    1714566600, 1714566600.5, 1714566600000, 99999999999, '', 'plain', "it's", 'back\\slash',
    'a'.repeat(bound), 'a'.repeat(bound + 1), 'é'.repeat(bound), 'é'.repeat(bound + 1), 'é'.repeat(32_768),
    '€'.repeat(bound), '€'.repeat(bound + 1), '😀'.repeat(10_000), '😀'.repeat(16_384), `${'a'.repeat(bound - 1)}'`,
    'a\ud800b', '\udc00', '42', '-7', '007', '9223372036854775807', '9223372036854775808', '1e3', '3.14', ' 1', 'true', 'FALSE',
    '1', '0', 'yes', '2024-01-02T03:04:05Z', '2024-01-02T03:04:05.123456Z', '2024-01-02T03:04:05.1Z',
    '2024-01-02T03:04:05.1234567Z', '2024-02-30T00:00:00Z', '2024-01-02T24:00:00Z', '2024-01-02T03:04:60Z',
    '2024-01-02T03:04:05+01:00', '2024-01-02 03:04:05', '2024-01-02t03:04:05z', '2024-01-02', '2023-02-29', '0999-12-31',
    '0999-12-31T23:00:00-02:00', '9999-12-31T23:59:59.999999Z', '10000-01-01', '1714566600.25', '2024-1-2', "2024-01-02'",
    [], {}, [1, 'a', null], { a: { b: [true, "it's"] } }, { 'k\ud800': 1 }, ['\ud800'], [Number.NaN], new Date(0), 5n,
  ];
  for (const char of alphabet) values.push(char, `x${char}y`, char.repeat(3));
  for (let n = 0; n < 200; n++) {
    const length = Math.floor(random() * 10);
    values.push(Array.from({ length }, () => alphabet[Math.floor(random() * alphabet.length)]).join(''));
    values.push(Math.round((random() - 0.5) * 10 ** Math.floor(random() * 18)) / 10 ** Math.floor(random() * 4));
    const ms = Math.floor((random() - 0.2) * 4e14);
    const iso = new Date(ms).toISOString();
    values.push(iso, iso.slice(0, 10), iso.replace('Z', '+05:30'), iso.replace(/\.\d+Z$/, 'Z'));
  }
  return values;
}

describe('coerceToLiteral', () => {
  it('writes exactly what sqlLiteral(coerceValue(...)) writes, or throws the same error, for every type and value', () => {
    const values = sampleValues();
    for (const type of DECLARED_TYPES) {
      for (const value of values) {
        const fast = fastLiteral(type, value);
        if (fast !== slowLiteral(type, value)) {
          expect({ type, value, fast }).toEqual({ type, value, fast: slowLiteral(type, value) });
        }
      }
    }
    // Generous: the comparison takes well under a second, but CI machines can be slow and loaded.
  }, 30_000);

  it('takes the fast paths for the common shapes', () => {
    expect(coerceToLiteral('string', 'plain "text"')).toBe(`'plain "text"'`);
    expect(coerceToLiteral('string', "it's")).toBe(`'it\\'s'`);
    expect(coerceToLiteral('int', -0)).toBe('0');
    expect(coerceToLiteral('float', 0.1 + 0.2)).toBe('0.30000000000000004');
    expect(coerceToLiteral('bool', 'true')).toBe('TRUE');
    expect(coerceToLiteral('timestamp', '2024-01-02T03:04:05.5Z')).toBe(`'2024-01-02 03:04:05.500000'`);
    expect(coerceToLiteral('date', '2024-01-02')).toBe(`'2024-01-02'`);
    expect(coerceToLiteral('json', { a: "it's" })).toBe(`'{"a":"it\\'s"}'`);
    expect(coerceToLiteral('json', undefined)).toBe('NULL');
    expect(coerceToLiteral('uint64', 7)).toBe('7');
    expect(coerceToLiteral('uint64', '18446744073709551615')).toBe(`'18446744073709551615'`);
    expect(() => coerceToLiteral('uint64', -1)).toThrow();
  });
});

describe('eventTuples', () => {
  const fields: DeclaredField[] = [
    { name: 'name', type: 'string' },
    { name: 'age', type: 'int' },
    { name: 'at', type: 'timestamp' },
  ];
  const now = quoteString('2026-01-01 00:00:00.000000');

  it('writes one typed tuple per event in schema order, with the suffix, and the raw JSON copies on request', () => {
    const logs = [{ at: '2024-01-02T03:04:05Z', name: "Rex's", age: '7' }, { name: 'Fido' }, {}];
    const result = eventTuples(fields, logs, { suffix: [now], rawSuffix: ["'dogs'", now] });
    expect(result.typed).toEqual([
      `('Rex\\'s',7,'2024-01-02 03:04:05.000000',${now})`,
      `('Fido',NULL,NULL,${now})`,
      `(NULL,NULL,NULL,${now})`,
    ]);
    expect(result.raw).toEqual([
      `('{"at":"2024-01-02T03:04:05Z","name":"Rex\\'s","age":"7"}','dogs',${now})`,
      `('{"name":"Fido"}','dogs',${now})`,
      `('{}','dogs',${now})`,
    ]);
    expect(eventTuples(fields, logs, { suffix: [now] }).raw).toEqual([]);
  });

  it('writes tuples holding only the suffix when no field is declared', () => {
    expect(eventTuples([], [{}, {}], { suffix: ["'a'", "'b'"] }).typed).toEqual(["('a','b')", "('a','b')"]);
  });

  it('refuses a batch with the same error as coerceEvents, whichever event is bad', () => {
    const bad: unknown[] = [
      'not an array',
      [{ name: 'a' }, 'not an object'],
      [{ name: 'a' }, { name: 'b', color: 'red' }],
      [{ name: 'a' }, { age: 'seven' }],
      [{ at: 'soon' }],
      [{ name: 'x'.repeat(70_000) }],
      [JSON.parse('{"__proto__": 1}')],
    ];
    for (const logs of bad) {
      const codeOf = (fn: () => unknown): unknown => {
        try {
          fn();
        } catch (error) {
          expect(error).toBeInstanceOf(AppError);
          return { code: (error as AppError).code, message: (error as AppError).message, details: (error as AppError).details };
        }
        return 'no error';
      };
      expect(codeOf(() => eventTuples(fields, logs, { suffix: [now] }))).toEqual(codeOf(() => coerceEvents(fields, logs)));
      expect(codeOf(() => coerceEvents(fields, logs))).not.toBe('no error');
    }
  });
});

describe('eventTuples with the source text', () => {
  const fields: DeclaredField[] = [{ name: 'n', type: 'int' }, { name: 'doc', type: 'json' }];
  const now = "'t'";

  it("stores each event's own text in the raw copy: numbers as sent, spacing kept", () => {
    const text = '{"family":"f","logs":[ {"n": 1, "doc": {"big": 9007199254740993, "x": 1.10}} ,{"n":2}]}';
    const parsed = JSON.parse(text) as { logs: unknown[] };
    const result = eventTuples(fields, parsed.logs, { suffix: [now], rawSuffix: ["'f'", now], sourceText: text });
    expect(result.raw).toEqual([`('{"n": 1, "doc": {"big": 9007199254740993, "x": 1.10}}','f','t')`, `('{"n":2}','f','t')`]);
    // Without the text, the parsed event is serialised again.
    expect(eventTuples(fields, parsed.logs, { suffix: [now], rawSuffix: ["'f'", now] }).raw[0]).toBe(
      `('{"n":1,"doc":{"big":9007199254740992,"x":1.1}}','f','t')`,
    );
  });

  it('falls back to serialising when the text does not hold these events', () => {
    const logs = [{ n: 1 }, { n: 2 }];
    const result = eventTuples(fields, logs, { suffix: [now], rawSuffix: ["'f'", now], sourceText: '{"logs":[{"n":1}]}' });
    expect(result.raw).toEqual([`('{"n":1}','f','t')`, `('{"n":2}','f','t')`]);
  });
});
