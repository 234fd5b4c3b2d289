/**
 * Value coercion: checks that each event value fits its declared type and turns
 * it into what is bound into a mysql2 placeholder (docs/rest.md, value coercion:
 * values must fit their type). Pure: validates a whole batch before anything is
 * written, so a rejected request writes nothing.
 */
import { AppError } from '../errors/app-error.js';
import { isPlainObject, type DeclaredField } from './declared-schema.js';
import type { DeclaredType } from './type-mapping.js';
import { coerceUint64 } from './osquery-types.js';
import { ValueCoercionError, calendarDateAt, formatDate, formatDateTime, hasDateSeparators, parseEpochSeconds, parseIsoInstant, parseUtcIsoFast } from './time.js';

/** What is bound into a mysql2 placeholder. */
export type SqlValue = string | number | boolean | null;

export { ValueCoercionError } from './time.js';

/** TEXT holds at most 65,535 bytes (https://dev.mysql.com/doc/refman/8.0/en/storage-requirements.html). */
export const MAX_STRING_BYTES = 65_535;

/**
 * Deepest nesting of arrays/objects a json value may have. MariaDB's
 * json_valid() (the CHECK behind its JSON type) fails from 32 nested
 * containers on (checked on 10.11; MySQL allows 100), and the raw_logs copy
 * holds the value inside its event object, one level deeper: 31 - 1.
 */
export const MAX_JSON_NESTING = 30;

const INT64_MIN = -(2n ** 63n);
const INT64_MAX = 2n ** 63n - 1n;
const INT_PATTERN = /^-?(0|[1-9]\d*)$/;
/** A JSON number: what a canonical decimal string looks like. */
const DECIMAL_PATTERN = /^(-?)(0|[1-9]\d*)(?:\.(\d+))?(?:[eE]([+-]?\d+))?$/;
function coerceString(value: unknown): string {
  if (typeof value !== 'string') {
    throw new ValueCoercionError('a string field takes only JSON strings; quote the value');
  }
  if (hasLoneSurrogate(value)) {
    throw new ValueCoercionError('the string contains a lone UTF-16 surrogate, which is not valid Unicode; fix the encoding');
  }
  const bytes = Buffer.byteLength(value, 'utf8');
  if (bytes > MAX_STRING_BYTES) {
    throw new ValueCoercionError(
      `the string is ${bytes} bytes in UTF-8, more than the ${MAX_STRING_BYTES} a TEXT column holds; shorten it or declare the field as json`,
    );
  }
  return value;
}

function coerceInt(value: unknown): number | string {
  if (typeof value === 'number') {
    if (!Number.isFinite(value) || !Number.isInteger(value)) {
      throw new ValueCoercionError('an int field takes whole numbers only; round it or declare the field as float');
    }
    if (!Number.isSafeInteger(value)) {
      throw new ValueCoercionError(
        'this integer is beyond ±2^53 and lost precision when parsed as a JSON number; send it as a string, e.g. "9007199254740993"',
      );
    }
    return value === 0 ? 0 : value; // -0 -> 0
  }
  if (typeof value === 'bigint') return checkInt64(value);
  if (typeof value === 'string') {
    if (value.length > 20 || !INT_PATTERN.test(value)) {
      throw new ValueCoercionError(
        'an int field takes a whole number or a string of digits with an optional minus sign and no leading zeros, spaces, "+", decimals or exponent (e.g. "42")',
      );
    }
    return checkInt64(BigInt(value));
  }
  throw new ValueCoercionError('an int field takes a whole number, or its digits as a string');
}

function checkInt64(big: bigint): number | string {
  if (big < INT64_MIN || big > INT64_MAX) {
    throw new ValueCoercionError(
      'the integer is outside BIGINT\'s range -9223372036854775808 to 9223372036854775807; declare the field as float or string',
    );
  }
  const n = Number(big);
  return Number.isSafeInteger(n) ? n : big.toString();
}

function coerceFloat(value: unknown): number {
  if (typeof value === 'number') {
    if (!Number.isFinite(value)) throw new ValueCoercionError('a float field takes finite numbers only');
    return value;
  }
  if (typeof value === 'string') {
    if (value.length > 1000 || !DECIMAL_PATTERN.test(value)) {
      throw new ValueCoercionError(
        'a float field takes a number, or a string in JSON number syntax without spaces (e.g. "3.14", "-1e5", "10")',
      );
    }
    const n = Number(value);
    if (!Number.isFinite(n)) throw new ValueCoercionError('the number is too large for a DOUBLE column');
    return n === 0 ? 0 : n;
  }
  throw new ValueCoercionError('a float field takes a number, or a number as a string');
}

function coerceBool(value: unknown): boolean {
  if (typeof value === 'boolean') return value;
  if (value === 0 || value === 1) return value === 1;
  if (typeof value === 'string') {
    const lower = value.length <= 5 ? value.toLowerCase() : '';
    if (lower === 'true' || value === '1') return true;
    if (lower === 'false' || value === '0') return false;
  }
  throw new ValueCoercionError('a bool field takes true, false, 0, 1, "true", "false", "0" or "1"');
}

const TIMESTAMP_HINT =
  'a timestamp field takes an ISO-8601 string such as "2024-05-01T12:30:00.123456Z" (no offset means UTC), a date "2024-05-01", or epoch seconds (e.g. 1714566600.5)';

function coerceTimestamp(value: unknown): string {
  if (typeof value === 'number') {
    if (!Number.isFinite(value)) throw new ValueCoercionError(TIMESTAMP_HINT);
    // String() gives the shortest text that round-trips: the digits the sender wrote.
    const instant = parseEpochSeconds(String(value));
    if (instant === undefined) throw new ValueCoercionError(TIMESTAMP_HINT);
    return formatDateTime(instant);
  }
  if (typeof value === 'string') {
    if (parseUtcIsoFast(value) !== undefined) {
      // Already UTC and valid: reuse the sender's digits.
      return `${value.slice(0, 10)} ${value.slice(11, 19)}.${value.length === 20 ? '000000' : value.slice(20, -1).padEnd(6, '0')}`;
    }
    const instant = parseIsoInstant(value) ?? parseEpochSeconds(value);
    if (instant === undefined) throw new ValueCoercionError(TIMESTAMP_HINT);
    return formatDateTime(instant);
  }
  throw new ValueCoercionError(TIMESTAMP_HINT);
}

function coerceDate(value: unknown): string {
  if (typeof value === 'string') {
    // `YYYY-MM-DD` is stored as sent once it names a real date.
    if (value.length === 10 && hasDateSeparators(value) && calendarDateAt(value) !== undefined) return value;
    const instant = parseIsoInstant(value);
    if (instant !== undefined) return formatDate(instant);
  }
  throw new ValueCoercionError(
    'a date field takes a string "YYYY-MM-DD" (years 1000 to 9999), or an ISO-8601 date-time whose UTC date is stored',
  );
}

/** Walks a JSON value, refusing non-JSON values, lone surrogates and nesting deeper than the servers accept. */
function checkJsonValue(value: unknown, depth: number): void {
  if (value === null || typeof value === 'boolean') return;
  if (typeof value === 'number') {
    if (!Number.isFinite(value)) throw new ValueCoercionError('a json value cannot hold NaN or Infinity');
    return;
  }
  if (typeof value === 'string') {
    if (hasLoneSurrogate(value)) {
      throw new ValueCoercionError('a string inside the json value contains a lone UTF-16 surrogate, which the server refuses; fix the encoding');
    }
    return;
  }
  if (typeof value !== 'object') throw new ValueCoercionError(`${typeof value} values are not JSON`);
  if (depth >= MAX_JSON_NESTING) {
    throw new ValueCoercionError(
      `the json value nests arrays/objects more than ${MAX_JSON_NESTING} levels deep, which MariaDB refuses; flatten it or store it as a string`,
    );
  }
  if (Array.isArray(value)) {
    for (const item of value) checkJsonValue(item, depth + 1);
    return;
  }
  if (!isPlainObject(value)) throw new ValueCoercionError('only plain JSON objects and arrays can be stored as json');
  const object = value as Record<string, unknown>;
  for (const key in object) {
    if (hasLoneSurrogate(key)) checkJsonValue(key, depth + 1);
    checkJsonValue(object[key], depth + 1);
  }
}

/** Any UTF-16 surrogate code unit at all (cheap), then the exact test for a lone one. */
const ANY_SURROGATE = /[\ud800-\udfff]/;
function hasLoneSurrogate(text: string): boolean {
  return ANY_SURROGATE.test(text) && /\p{Cs}/u.test(text);
}

function coerceJson(value: unknown): string {
  checkJsonValue(value, 0);
  return JSON.stringify(value);
}

/**
 * Checks that one value fits a declared type and returns what to bind.
 * `null` and `undefined` are SQL NULL for every type.
 *
 * - string: JS strings only, at most 65,535 UTF-8 bytes, no lone surrogates.
 * - int: safe JS integers, or canonical digit strings (`/^-?(0|[1-9]\d*)$/`)
 *   within signed 64-bit; returned as a number when safe, else as a string.
 * - float: finite numbers, or strings in JSON number syntax -> number.
 * - bool: true/false, 0/1, "true"/"false" (any case), "0"/"1" -> boolean.
 * - timestamp: ISO-8601 date-time (offset or UTC), ISO date (midnight UTC),
 *   or epoch seconds (number or decimal string, fraction kept to the
 *   microsecond) -> `'YYYY-MM-DD HH:MM:SS.ffffff'` in UTC, years 1000-9999.
 * - date: `'YYYY-MM-DD'` (valid calendar date), or an ISO-8601 date-time whose
 *   UTC date is taken -> `'YYYY-MM-DD'`. Numbers are refused.
 * - json: any JSON value up to 31 nested containers -> JSON text.
 * - uint64: 0..2^64-1 as a safe integer or a canonical digit string; a
 *   number when safe, else the digits (osquery-types.ts coerceUint64).
 *
 * @throws ValueCoercionError with the reason (never an AppError).
 * @example coerceValue('int', '9223372036854775807') // => '9223372036854775807'
 * @example coerceValue('timestamp', '2024-01-02T03:04:05.123456+01:00') // => '2024-01-02 02:04:05.123456'
 * @example coerceValue('bool', 'TRUE') // => true
 */
export function coerceValue(type: DeclaredType, value: unknown): SqlValue {
  if (value === null || value === undefined) return null;
  switch (type) {
    case 'string':
      return coerceString(value);
    case 'int':
      return coerceInt(value);
    case 'float':
      return coerceFloat(value);
    case 'bool':
      return coerceBool(value);
    case 'timestamp':
      return coerceTimestamp(value);
    case 'date':
      return coerceDate(value);
    case 'json':
      return coerceJson(value);
    case 'uint64':
      return coerceUint64(value);
  }
}

/** Options of {@link coerceEvents}. */
export interface CoerceEventsOptions {
  /** Longest excerpt of a bad value put into messages and details; default 100 characters. */
  valuePreviewChars?: number;
}

/** Result of {@link coerceEvents}: the insert's column list and one row per event. */
export interface CoercedEvents {
  columns: string[];
  rows: SqlValue[][];
}

/**
 * True when `value` nests arrays/objects more than `limit` levels deep
 * (`[]` is 1 level). Iterative, and it stops at the first container past the
 * limit, so a value nested 100,000 deep costs `limit` steps down one path,
 * not a stack overflow. Use it before anything recursive (JSON.stringify,
 * String) touches a value a client sent.
 * @example nestingExceeds([[1]], 1) // => true
 */
export function nestingExceeds(value: unknown, limit: number): boolean {
  if (typeof value !== 'object' || value === null) return false;
  const stack: Array<{ value: object; depth: number }> = [{ value, depth: 1 }];
  while (stack.length > 0) {
    const top = stack.pop() as { value: object; depth: number };
    if (top.depth > limit) return true;
    const children = Array.isArray(top.value) ? (top.value as unknown[]) : Object.values(top.value);
    for (const child of children) {
      if (typeof child === 'object' && child !== null) stack.push({ value: child, depth: top.depth + 1 });
    }
  }
  return false;
}

/** Deepest value previewValue serialises; deeper ones are shown by their opening brackets. */
const MAX_PREVIEW_NESTING = MAX_JSON_NESTING + 2;

/** The opening of a too-deep value: its first `max` brackets and keys down the first path, then `...`. */
function deepOpening(value: unknown, max: number): string {
  let text = '';
  let node = value;
  while (text.length < max && typeof node === 'object' && node !== null) {
    if (Array.isArray(node)) {
      text += '[';
      node = node[0];
    } else {
      const key = Object.keys(node)[0];
      if (key === undefined) break;
      text += `{${JSON.stringify(key)}:`;
      node = (node as Record<string, unknown>)[key];
    }
  }
  return `${text}...`;
}

/**
 * A short, JSON-safe rendering of a received value for messages and details:
 * short scalars as they are, anything else as JSON text cut to `max`
 * characters; a value nested too deep to serialise safely, by its opening.
 */
export function previewValue(value: unknown, max = 100): string | number | boolean | null {
  if (value === null || typeof value === 'boolean') return value;
  if (typeof value === 'number') return Number.isFinite(value) ? value : String(value);
  let text: string;
  if (typeof value === 'string') {
    text = value;
  } else if (nestingExceeds(value, MAX_PREVIEW_NESTING)) {
    text = deepOpening(value, max);
  } else {
    try {
      text = JSON.stringify(value) ?? String(value);
    } catch {
      text = Object.prototype.toString.call(value);
    }
  }
  const chars = Array.from(text.length > max * 2 + 2 ? text.slice(0, max * 2 + 2) : text);
  return chars.length > max ? `${chars.slice(0, max).join('')}...` : text;
}

/**
 * Validates and coerces a batch of events against the declared fields,
 * all of them before anything is written.
 *
 * `columns` are all declared names in schema order; `rows[i][j]` is event i's
 * value for column j, null when missing or null. Event keys must match a
 * declared name exactly.
 *
 * @throws AppError BAD_USER_INPUT (`logs` not an array `{ received }`; an event
 *   not an object `{ index }`), UNDECLARED_FIELD `{ index, field }`,
 *   INVALID_VALUE `{ index, field, type, value }` (value shortened).
 * @example coerceEvents([{ name: 'n', type: 'int' }], [{ n: '7' }, {}])
 *   // => { columns: ['n'], rows: [[7], [null]] }
 */
export function coerceEvents(
  fields: readonly DeclaredField[],
  logs: unknown,
  opts: CoerceEventsOptions = {},
): CoercedEvents {
  const rows = mapEvents(fields, logs, coerceValue, (cells) => cells.slice(), opts);
  return { columns: fields.map((f) => f.name), rows };
}

/**
 * The engine of {@link coerceEvents}, for callers that want each value in
 * another form than a SqlValue (the ingest path wants SQL literal text).
 * `convert` turns one value (null/undefined included) into a cell and throws
 * ValueCoercionError when it does not fit; `finish` turns one event's cells,
 * in schema order, into a row. The `cells` array is reused between events, so
 * `finish` must copy what it keeps. Same checks and errors as coerceEvents.
 */
export function mapEvents<Cell, Row>(
  fields: readonly DeclaredField[],
  logs: unknown,
  convert: (type: DeclaredType, value: unknown) => Cell,
  finish: (cells: Cell[], event: Record<string, unknown>, index: number) => Row,
  opts: CoerceEventsOptions = {},
): Row[] {
  const previewChars = opts.valuePreviewChars ?? 100;
  if (!Array.isArray(logs)) {
    const received = logs === null ? 'null' : typeof logs;
    throw new AppError('BAD_USER_INPUT', `"logs" must be an array of event objects, received ${received}`, {
      received,
    });
  }
  const declared = new Set(fields.map((f) => f.name));
  // Only a name that Object.prototype also has ("toString", "__proto__", ...)
  // can read an inherited value from a plain object: check those for own-ness.
  const inheritable = fields.map((f) => f.name in Object.prototype);
  const rows: Row[] = new Array<Row>(logs.length);
  const cells: Cell[] = new Array<Cell>(fields.length);
  for (let index = 0; index < logs.length; index++) {
    const event: unknown = logs[index];
    if (!isPlainObject(event)) {
      const received = event === null ? 'null' : Array.isArray(event) ? 'an array' : typeof event;
      throw new AppError(
        'BAD_USER_INPUT',
        `event ${index} in "logs" must be a JSON object of field values, received ${received}`,
        { index },
      );
    }
    for (const key in event) {
      if (!declared.has(key) && Object.hasOwn(event, key)) {
        const field = String(previewValue(key, previewChars));
        throw new AppError(
          'UNDECLARED_FIELD',
          `event ${index} has field "${field}" that the request does not declare; add it to "schema" (e.g. "schema": {"${field}": "string"}) or remove it from the event`,
          { index, field },
        );
      }
    }
    for (let j = 0; j < fields.length; j++) {
      const { name, type } = fields[j] as DeclaredField;
      const value = inheritable[j] === true && !Object.hasOwn(event, name) ? undefined : event[name];
      try {
        cells[j] = convert(type, value);
      } catch (error) {
        if (!(error instanceof ValueCoercionError)) throw error;
        const shown = previewValue(value, previewChars);
        throw new AppError(
          'INVALID_VALUE',
          `event ${index}: field "${name}" is declared ${type} but received ${JSON.stringify(shown)}: ${error.message}`,
          { index, field: name, type, value: shown },
        );
      }
    }
    rows[index] = finish(cells, event, index);
  }
  return rows;
}
