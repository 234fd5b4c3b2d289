/**
 * Column types of osquery families, and how osquery's values become column
 * values. Pure: no I/O.
 *
 * osquery sends every value as a string (numbers too, unless
 * `--logger_numerics`), so these families need one type the gateway does not
 * declare today: `uint64`, an exact 0..2^64-1 integer in a `BIGINT UNSIGNED`
 * column, for osquery's UNSIGNED_BIGINT columns (and the `epoch`/`counter`
 * metadata). The rest of the schema layer knows only {@link DeclaredType};
 * {@link UINT64_COLUMN} and {@link coerceUint64} are what it needs to learn
 * (see docs/osquery.md, "What the schema layer must add").
 *
 * The values of an osquery row go in leniently ({@link osqueryCell}): a value
 * osquery sent never turns a line into an error. `""` in a number column is
 * NULL, so is a value that does not fit the column's type (the raw copy of
 * the line keeps it), and a string longer than a TEXT column holds is cut at
 * a character boundary; each such change is reported.
 */
import { ValueCoercionError } from './time.js';
import type { DeclaredType } from './type-mapping.js';

/** The type of an osquery family's column: a declared type (`uint64` included). */
export type OsqueryFieldType = DeclaredType;

/** The column of a `uint64` field: DDL type and the DATA_TYPE information_schema reports. */
export const UINT64_COLUMN = Object.freeze({ ddl: 'BIGINT UNSIGNED', dataType: 'bigint', columnType: 'bigint(20) unsigned' });

/** 2^64 - 1. */
export const UINT64_MAX = 18446744073709551615n;

/** TEXT holds at most 65,535 bytes (the same limit as coerce-value.ts's MAX_STRING_BYTES). */
export const OSQUERY_MAX_STRING_BYTES = 65_535;

const UINT_PATTERN = /^(0|[1-9]\d*)$/;
const INT_PATTERN = /^-?(0|[1-9]\d*)$/;
const DECIMAL_PATTERN = /^-?(0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?$/;
const INT64_MIN = -(2n ** 63n);
const INT64_MAX = 2n ** 63n - 1n;

/**
 * Strict coercion of a `uint64` value, for declared (non-osquery) use: a
 * whole number 0..2^64-1, as a JSON number (safe integers only) or a string
 * of digits without sign, leading zeros or spaces. Returns a number when it
 * is a safe integer, else the digits as a string (bound exactly).
 *
 * @throws ValueCoercionError with the reason.
 * @example coerceUint64('18446744073709551615') // => '18446744073709551615'
 * @example coerceUint64(7) // => 7
 */
export function coerceUint64(value: unknown): number | string | null {
  if (value === null || value === undefined) return null;
  if (typeof value === 'number') {
    if (!Number.isSafeInteger(value) || value < 0) {
      throw new ValueCoercionError(
        'a uint64 field takes whole numbers 0 to 18446744073709551615; send values beyond 2^53 as a string of digits',
      );
    }
    return value === 0 ? 0 : value;
  }
  if (typeof value === 'bigint') {
    if (value < 0n || value > UINT64_MAX) throw new ValueCoercionError('a uint64 field takes 0 to 18446744073709551615');
    return Number.isSafeInteger(Number(value)) ? Number(value) : value.toString();
  }
  if (typeof value === 'string' && value.length <= 20 && UINT_PATTERN.test(value)) {
    const big = BigInt(value);
    if (big <= UINT64_MAX) return Number.isSafeInteger(Number(big)) ? Number(big) : value;
  }
  throw new ValueCoercionError(
    'a uint64 field takes a whole number 0 to 18446744073709551615, or its digits as a string (no sign, leading zeros or spaces)',
  );
}

/** What {@link osqueryCell} did to a value, when not stored as sent. */
export type OsqueryCellChange = 'nulled' | 'truncated';

/** One value ready to bind: number, digits string, string, bool or null. */
export interface OsqueryCell {
  value: string | number | boolean | null;
  /** Set when the value was not stored as sent (the raw copy keeps it). */
  change?: OsqueryCellChange;
}

function truncateUtf8(text: string, maxBytes: number): string {
  const buf = Buffer.from(text, 'utf8');
  let end = maxBytes;
  // Step back to the first byte of a UTF-8 sequence.
  while (end > 0 && ((buf[end] ?? 0) & 0xc0) === 0x80) end--;
  return buf.subarray(0, end).toString('utf8');
}

function asText(raw: unknown): string {
  if (typeof raw === 'string') return raw;
  if (typeof raw === 'number' || typeof raw === 'boolean' || typeof raw === 'bigint') return String(raw);
  return JSON.stringify(raw) ?? '';
}

function integerCell(text: string, min: bigint, max: bigint, pattern: RegExp): OsqueryCell {
  if (text.length <= 21 && pattern.test(text)) {
    const big = BigInt(text);
    if (big >= min && big <= max) {
      const n = Number(big);
      return { value: Number.isSafeInteger(n) ? n : big.toString() };
    }
  }
  return { value: null, change: 'nulled' };
}

/**
 * One osquery value as the value of a column of `type`, leniently: never
 * throws. The rules, by column type:
 * - any type: `null`/missing -> NULL; `""` -> NULL except for strings.
 * - string: the value as text (numbers of --logger_numerics as their digits);
 *   longer than 65,535 UTF-8 bytes -> cut there ('truncated').
 * - int / uint64: a whole number in range (BIGINT, or 0..2^64-1), sent as a
 *   JSON number or digits -> that number (digits kept exactly as a string
 *   beyond 2^53); anything else -> NULL ('nulled').
 * - float: a finite number or decimal text -> the number; else NULL.
 * - bool: 1/0, "1"/"0", true/false, "true"/"false" -> bool; else NULL.
 * - timestamp: the 'YYYY-MM-DD HH:MM:SS.ffffff' text flattenOsqueryResult
 *   makes -> that text; else NULL.
 * - date / json: as text / JSON text (osquery families do not use them).
 *
 * @example osqueryCell('int', '') // => { value: null }
 * @example osqueryCell('uint64', '18446744073709551615') // => { value: '18446744073709551615' }
 * @example osqueryCell('int', 'n/a') // => { value: null, change: 'nulled' }
 */
export function osqueryCell(type: OsqueryFieldType, raw: unknown): OsqueryCell {
  if (raw === null || raw === undefined) return { value: null };
  if (type === 'string') {
    const text = asText(raw);
    return text.length * 3 > OSQUERY_MAX_STRING_BYTES && Buffer.byteLength(text, 'utf8') > OSQUERY_MAX_STRING_BYTES
      ? { value: truncateUtf8(text, OSQUERY_MAX_STRING_BYTES), change: 'truncated' }
      : { value: text };
  }
  if (raw === '') return { value: null };
  switch (type) {
    case 'int':
      if (typeof raw === 'number') return Number.isSafeInteger(raw) ? { value: raw === 0 ? 0 : raw } : { value: null, change: 'nulled' };
      return integerCell(asText(raw), INT64_MIN, INT64_MAX, INT_PATTERN);
    case 'uint64':
      if (typeof raw === 'number') {
        return Number.isSafeInteger(raw) && raw >= 0 ? { value: raw === 0 ? 0 : raw } : { value: null, change: 'nulled' };
      }
      return integerCell(asText(raw), 0n, UINT64_MAX, UINT_PATTERN);
    case 'float': {
      if (typeof raw === 'number') return Number.isFinite(raw) ? { value: raw } : { value: null, change: 'nulled' };
      const text = asText(raw);
      const n = text.length <= 400 && DECIMAL_PATTERN.test(text) ? Number(text) : NaN;
      return Number.isFinite(n) ? { value: n === 0 ? 0 : n } : { value: null, change: 'nulled' };
    }
    case 'bool': {
      const text = asText(raw).toLowerCase();
      if (text === '1' || text === 'true') return { value: true };
      if (text === '0' || text === 'false') return { value: false };
      return { value: null, change: 'nulled' };
    }
    case 'timestamp': {
      const text = asText(raw);
      return /^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}\.\d{6}$/.test(text) ? { value: text } : { value: null, change: 'nulled' };
    }
    case 'date':
      return { value: asText(raw) };
    case 'json':
      return { value: JSON.stringify(raw) ?? null };
  }
}
