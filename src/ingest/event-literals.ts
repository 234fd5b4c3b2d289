/**
 * The ingest hot path: event values straight to SQL literal text, one row
 * tuple per event, without an intermediate SqlValue row. Every value either
 * takes a fast path for its common shape (a plain string, a safe integer, a
 * boolean, ...) or goes through coerceValue and sqlLiteral, and the fast
 * paths write exactly what that slow path writes (a unit test compares both
 * on thousands of values). Pure: no I/O.
 */
import { coerceValue, mapEvents, type CoerceEventsOptions } from '../schema/coerce-value.js';
import type { DeclaredField } from '../schema/declared-schema.js';
import { eventSpans } from './event-spans.js';
import { quoteString, sqlLiteral } from '../schema/sql-literal.js';
import type { DeclaredType } from '../schema/type-mapping.js';

/**
 * Strings up to this many UTF-16 code units are at most 65,535 UTF-8 bytes
 * (a code unit never takes more than 3 bytes), so their length needs no check.
 */
const SHORT_STRING_UNITS = Math.floor(65_535 / 3);

/** What sends a string to the slow path: a character to escape or any surrogate (it might be lone). */
const NOT_PLAIN = /[\0\n\r\x1a'\\\ud800-\udfff]/;

/**
 * One event value of a declared type as SQL literal text, with the same
 * checks as coerceValue: `sqlLiteral(coerceValue(type, value))`, faster.
 * @throws ValueCoercionError when the value does not fit the type.
 * @example coerceToLiteral('string', "it's") // => "'it\\'s'"
 * @example coerceToLiteral('timestamp', '2024-01-02T03:04:05Z') // => "'2024-01-02 03:04:05.000000'"
 */
export function coerceToLiteral(type: DeclaredType, value: unknown): string {
  if (value === null || value === undefined) return 'NULL';
  switch (type) {
    case 'string':
      if (typeof value === 'string' && value.length <= SHORT_STRING_UNITS && !NOT_PLAIN.test(value)) return `'${value}'`;
      break;
    case 'int':
      // String(-0) is "0", as coerceValue's -0 -> 0.
      if (typeof value === 'number' && Number.isSafeInteger(value)) return String(value);
      break;
    case 'float':
      if (typeof value === 'number' && Number.isFinite(value)) return String(value);
      break;
    case 'bool':
      if (typeof value === 'boolean') return value ? 'TRUE' : 'FALSE';
      break;
    case 'timestamp':
    case 'date':
      // Always digits, '-', ':', ' ' and '.': nothing to escape.
      return `'${coerceValue(type, value) as string}'`;
    case 'uint64':
      if (typeof value === 'number' && Number.isSafeInteger(value) && value >= 0) return String(value);
      break;
    case 'json':
      break;
  }
  return sqlLiteral(coerceValue(type, value));
}

/** Options of {@link eventTuples}. */
export interface EventTuplesOptions extends CoerceEventsOptions {
  /** Literal text appended to every tuple after the declared fields (e.g. the ingestion time), already written by sqlLiteral. */
  suffix?: readonly string[];
  /** Also build each event's raw_logs tuple: `(<event as JSON>,<rawSuffix...>)`. */
  rawSuffix?: readonly string[] | undefined;
  /** End each typed tuple with the event's JSON text (the family row's `_raw` column), after the suffix. */
  inlineRaw?: boolean | undefined;
  /**
   * The JSON text the events were parsed from (the REST body): the raw_logs
   * copy is then each event's own text from it (eventSpans), else the event
   * serialised again.
   */
  sourceText?: string | undefined;
  /** eventSpans(sourceText), when the caller has already scanned it (it also refuses duplicate keys). */
  sourceSpans?: number[] | undefined;
  /**
   * Fed each event's JSON text (its raw copy), each followed by a newline:
   * the ingest service hashes a request with an Idempotency-Key this way.
   */
  digest?: { update(text: string): unknown } | undefined;
}

/** Result of {@link eventTuples}. */
export interface EventTuples {
  /** `(v1,v2,...,suffix...)` per event, values in schema order. */
  typed: string[];
  /** `('<event JSON>',rawSuffix...)` per event; empty unless `rawSuffix` was given. */
  raw: string[];
}

/**
 * Validates a batch of events against the declared fields (the checks and
 * errors of coerceEvents) and writes each event's row tuple for a multi-row
 * INSERT, plus, on request, its raw_logs tuple holding the event as JSON.
 * @throws AppError BAD_USER_INPUT, UNDECLARED_FIELD, INVALID_VALUE (see coerceEvents).
 * @example eventTuples([{ name: 'n', type: 'int' }], [{ n: '7' }, {}], { suffix: ["'t'"] })
 *   // => { typed: ["(7,'t')", "(NULL,'t')"], raw: [] }
 */
export function eventTuples(fields: readonly DeclaredField[], logs: unknown, opts: EventTuplesOptions = {}): EventTuples {
  const suffix = opts.suffix ?? [];
  const typedTail = `${suffix.map((s) => `,${s}`).join('')})`;
  const emptyTuple = `(${suffix.join(',')})`;
  const rawTail = `${(opts.rawSuffix ?? []).map((s) => `,${s}`).join('')})`;
  const raw: string[] = [];
  const wantRaw = opts.rawSuffix !== undefined;
  const inline = opts.inlineRaw === true;
  const digest = opts.digest;
  const text = opts.sourceText;
  // Always scanned when the text is there: the scan also refuses duplicate keys.
  let spans = text === undefined ? undefined : (opts.sourceSpans ?? eventSpans(text));
  if (spans !== undefined && (!Array.isArray(logs) || spans.length !== 2 * logs.length)) spans = undefined;
  const typed = mapEvents(
    fields,
    logs,
    coerceToLiteral,
    (cells, event, index) => {
      let json: string | undefined;
      if (wantRaw || inline || digest !== undefined) {
        json = spans === undefined ? JSON.stringify(event) : (text as string).slice(spans[2 * index], spans[2 * index + 1]);
        if (wantRaw) raw.push(`(${quoteString(json)}${rawTail}`);
        if (digest !== undefined) digest.update(`${json}\n`);
      }
      if (inline) return `(${[...cells, ...suffix, quoteString(json as string)].join(',')})`;
      return cells.length === 0 ? emptyTuple : `(${cells.join(',')}${typedTail}`;
    },
    opts,
  );
  return { typed, raw };
}
