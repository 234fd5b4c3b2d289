/**
 * osquery logs as sent: NDJSON lines (osqueryd.results.log forwarded by
 * Filebeat, Fluent Bit, Vector, ...), a JSON array of records, or the TLS
 * logger's body, to checked result and status records. Pure: parses and
 * validates, reports every bad line with its line number, never throws for
 * bad input.
 *
 * Record kinds (osquery's osquery/core/query.cpp, plugins/logger/buffered.cpp):
 * - event: one row, `columns: {...}` and `action` ("added", "removed", or
 *   "snapshot" for a snapshot query in event format);
 * - batch: `diffResults: {added: [...], removed: [...]}`;
 * - snapshot: `snapshot: [...]` (`action: "snapshot"`);
 * - status: `severity`, `filename`, `line`, `message`, `version`.
 * Result records carry `name`, `hostIdentifier` (`hostname` in older
 * osquery docs), `calendarTime`, `unixTime`, `epoch`, `counter`, `numerics`,
 * and `decorations: {...}`; with --decorations_top_level the decorations are
 * top-level keys instead, so any other top-level key with a scalar value is
 * read as a decoration (object and array values are ignored: shippers add
 * such envelopes).
 */
import { AppError } from '../errors/app-error.js';
import { isPlainObject } from '../schema/declared-schema.js';
import { JsonSyntaxError, parseJsonArrayLossless, parseJsonLossless } from './osquery-json.js';

/** A value of an osquery row: a string, or a number/bool with --logger_numerics; big integers as digit strings. */
export type OsqueryScalar = string | number | boolean | null;

/** One osquery row: column name -> value. */
export type OsqueryRow = Record<string, OsqueryScalar>;

/** Where a record or error is in the input. */
export interface OsqueryPosition {
  /** 0-based position among the input's records (lines or array elements). */
  index: number;
  /** 1-based line of the text where it starts. */
  line: number;
}

/** What every record has. */
export interface OsqueryRecordBase extends OsqueryPosition {
  hostIdentifier: string | null;
  calendarTime: string | null;
  /** As sent: epoch seconds, a number or digits. */
  unixTime: string | number | null;
  /** Decoration key -> value (as text). */
  decorations: Record<string, string>;
}

/** What every result record (event, batch, snapshot) has besides the base. */
export interface OsqueryResultBase extends OsqueryRecordBase {
  /** The scheduled query name, e.g. `pack_incident-response_processes`. */
  name: string;
  epoch: string | number | null;
  counter: string | number | null;
  numerics: boolean;
}

export interface OsqueryEventRecord extends OsqueryResultBase {
  kind: 'event';
  action: 'added' | 'removed' | 'snapshot';
  columns: OsqueryRow;
}

export interface OsqueryBatchRecord extends OsqueryResultBase {
  kind: 'batch';
  added: OsqueryRow[];
  removed: OsqueryRow[];
}

export interface OsquerySnapshotRecord extends OsqueryResultBase {
  kind: 'snapshot';
  snapshot: OsqueryRow[];
}

export interface OsqueryStatusRecord extends OsqueryRecordBase {
  kind: 'status';
  status: {
    /** 0 INFO, 1 WARNING, 2 ERROR, 3 FATAL (a number, or digits). */
    severity: string | number | null;
    filename: string | null;
    /** The source line of the message. */
    line: string | number | null;
    message: string | null;
    version: string | null;
  };
}

export type OsqueryResultRecord = OsqueryEventRecord | OsqueryBatchRecord | OsquerySnapshotRecord;
export type OsqueryRecord = OsqueryResultRecord | OsqueryStatusRecord;

/** One bad record: its position, a registered code and a message that says how to fix it. */
export interface OsqueryLineError extends OsqueryPosition {
  code: 'INVALID_JSON' | 'BAD_USER_INPUT';
  message: string;
}

/** What the parsers return: the good records and every bad one. */
export interface ParsedOsqueryLog {
  records: OsqueryRecord[];
  errors: OsqueryLineError[];
}

/** Options of the parsers. */
export interface ParseOsqueryOptions {
  /** Deepest JSON nesting accepted per record; default 64. */
  maxDepth?: number;
}

const RESULT_KEYS = new Set([
  'name',
  'hostIdentifier',
  'hostname',
  'calendarTime',
  'unixTime',
  'epoch',
  'counter',
  'numerics',
  'decorations',
  'columns',
  'action',
  'diffResults',
  'snapshot',
]);
const STATUS_KEYS = new Set(['hostIdentifier', 'hostname', 'calendarTime', 'unixTime', 'severity', 'filename', 'line', 'message', 'version', 'decorations']);

/** A run of 16+ digits: the line may hold an integer JSON.parse would round. */
const LONG_DIGITS = /\d{16}/;

class RecordError extends Error {}

function fail(message: string): never {
  throw new RecordError(message);
}

function describe(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  return typeof value === 'object' ? 'an object' : `a ${typeof value}`;
}

function optionalString(obj: Record<string, unknown>, key: string): string | null {
  const v = obj[key];
  if (v === undefined || v === null) return null;
  if (typeof v === 'string') return v;
  if (typeof v === 'number' || typeof v === 'boolean') return String(v);
  return fail(`"${key}" must be a string, found ${describe(v)}`);
}

function optionalNumberish(obj: Record<string, unknown>, key: string): string | number | null {
  const v = obj[key];
  if (v === undefined || v === null) return null;
  if (typeof v === 'string' || (typeof v === 'number' && Number.isFinite(v))) return v;
  return fail(`"${key}" must be a number or a string of digits, found ${describe(v)}`);
}

function readRow(value: unknown, where: string): OsqueryRow {
  if (!isPlainObject(value)) fail(`${where} must be an object of column -> value, found ${describe(value)}`);
  for (const [column, v] of Object.entries(value)) {
    if (v !== null && typeof v !== 'string' && typeof v !== 'number' && typeof v !== 'boolean') {
      fail(`column "${column}" of ${where} holds ${describe(v)}; osquery sends each column as a string (or a number with --logger_numerics)`);
    }
  }
  return value as OsqueryRow;
}

function readRows(value: unknown, where: string): OsqueryRow[] {
  if (value === undefined || value === null) return [];
  if (!Array.isArray(value)) fail(`"${where}" must be an array of rows, found ${describe(value)}`);
  return value.map((row, i) => readRow(row, `${where}[${i}]`));
}

function readDecorations(obj: Record<string, unknown>, known: ReadonlySet<string>): Record<string, string> {
  const decorations: Record<string, string> = {};
  const nested = obj['decorations'];
  if (nested !== undefined && nested !== null) {
    if (!isPlainObject(nested)) fail(`"decorations" must be an object of name -> value, found ${describe(nested)}`);
    for (const [key, v] of Object.entries(nested)) {
      if (v === null || v === undefined) continue;
      if (typeof v === 'object') fail(`decoration "${key}" holds ${describe(v)}; decorations are strings`);
      decorations[key] = String(v);
    }
  }
  // --decorations_top_level: decorations are top-level keys.
  for (const [key, v] of Object.entries(obj)) {
    if (known.has(key) || v === null || typeof v === 'object') continue;
    if (!Object.hasOwn(decorations, key)) decorations[key] = String(v);
  }
  return decorations;
}

function readBase(obj: Record<string, unknown>, position: OsqueryPosition, known: ReadonlySet<string>): OsqueryRecordBase {
  return {
    index: position.index,
    line: position.line,
    hostIdentifier: optionalString(obj, 'hostIdentifier') ?? optionalString(obj, 'hostname'),
    calendarTime: optionalString(obj, 'calendarTime'),
    unixTime: optionalNumberish(obj, 'unixTime'),
    decorations: readDecorations(obj, known),
  };
}

function readResultBase(obj: Record<string, unknown>, position: OsqueryPosition): OsqueryResultBase {
  const name = obj['name'];
  if (typeof name !== 'string' || name.length === 0) {
    fail(`a result needs "name", the scheduled query's name as a non-empty string; found ${name === '' ? 'an empty string' : describe(name)}`);
  }
  const numerics = obj['numerics'];
  return {
    ...readBase(obj, position, RESULT_KEYS),
    name,
    epoch: optionalNumberish(obj, 'epoch'),
    counter: optionalNumberish(obj, 'counter'),
    numerics: numerics === true || numerics === 'true',
  };
}

/**
 * One parsed JSON value -> a record. Which kind: `columns` -> event,
 * `diffResults` -> batch, `snapshot` -> snapshot, `severity` or `message`
 * without `name` -> status.
 *
 * @throws RecordError with the reason.
 */
function readRecord(value: unknown, position: OsqueryPosition): OsqueryRecord {
  if (!isPlainObject(value)) fail(`expected an osquery result or status object, found ${describe(value)}`);
  if ('columns' in value) {
    const action = value['action'];
    if (action !== 'added' && action !== 'removed' && action !== 'snapshot') {
      fail(`an event result needs "action": "added", "removed" or "snapshot"; found ${typeof action === 'string' ? JSON.stringify(action) : describe(action)}`);
    }
    return { kind: 'event', ...readResultBase(value, position), action, columns: readRow(value['columns'], '"columns"') };
  }
  if ('diffResults' in value) {
    const diff = value['diffResults'];
    if (!isPlainObject(diff)) fail(`"diffResults" must be an object {"added": [...], "removed": [...]}, found ${describe(diff)}`);
    return {
      kind: 'batch',
      ...readResultBase(value, position),
      added: readRows(diff['added'], 'diffResults.added'),
      removed: readRows(diff['removed'], 'diffResults.removed'),
    };
  }
  if ('snapshot' in value) {
    if (!Array.isArray(value['snapshot'])) fail(`"snapshot" must be an array of rows, found ${describe(value['snapshot'])}`);
    return { kind: 'snapshot', ...readResultBase(value, position), snapshot: readRows(value['snapshot'], 'snapshot') };
  }
  if (!('name' in value) && ('severity' in value || 'message' in value)) {
    return {
      kind: 'status',
      ...readBase(value, position, STATUS_KEYS),
      status: {
        severity: optionalNumberish(value, 'severity'),
        filename: optionalString(value, 'filename'),
        line: optionalNumberish(value, 'line'),
        message: optionalString(value, 'message'),
        version: optionalString(value, 'version'),
      },
    };
  }
  return fail(
    'this is not an osquery record: a result has "columns" (event format), "diffResults" (batch format) or "snapshot", a status log has "severity" and "message"',
  );
}

function where(position: OsqueryPosition, array: boolean): string {
  return array ? `element ${position.index} (line ${position.line})` : `line ${position.line}`;
}

function collect(values: Array<{ value: unknown; position: OsqueryPosition }>, array: boolean, out: ParsedOsqueryLog): void {
  for (const { value, position } of values) {
    try {
      out.records.push(readRecord(value, position));
    } catch (error) {
      if (!(error instanceof RecordError)) throw error;
      out.errors.push({ ...position, code: 'BAD_USER_INPUT', message: `${where(position, array)}: ${error.message}` });
    }
  }
}

/**
 * Already-parsed JSON values (one per record) -> records. Positions are the
 * array indexes; `line` is index + 1 (as if one record per line).
 */
export function readOsqueryValues(values: readonly unknown[]): ParsedOsqueryLog {
  const out: ParsedOsqueryLog = { records: [], errors: [] };
  collect(values.map((value, index) => ({ value, position: { index, line: index + 1 } })), false, out);
  return out;
}

function parseLine(text: string, maxDepth: number): unknown {
  if (LONG_DIGITS.test(text)) return parseJsonLossless(text, { maxDepth });
  return JSON.parse(text) as unknown;
}

function syntaxMessage(error: unknown): string {
  const reason = error instanceof Error ? error.message : String(error);
  return `${reason.replace(/ at line \d+, column \d+$/, '')}; send one JSON object per line (NDJSON) as osqueryd writes its results log, or one JSON array of objects`;
}

/**
 * osquery logs as text or lines -> records and per-record errors.
 *
 * A text whose first non-blank character is `[` is one JSON array of
 * records (a syntax error anywhere is one error, with its line). Any other
 * text, and an array of lines, is NDJSON: one record per non-blank line
 * (`\n` or `\r\n`), each error naming its line number. Integers beyond 2^53
 * keep their digits (as strings). Status and result records may mix.
 *
 * @example parseOsqueryLines('{"name":"p","action":"added","columns":{"pid":"1"}}\nnot json')
 *   // => { records: [event p], errors: [{ index: 1, line: 2, code: 'INVALID_JSON', message: 'line 2: ...' }] }
 */
export function parseOsqueryLines(input: string | readonly string[], opts: ParseOsqueryOptions = {}): ParsedOsqueryLog {
  const maxDepth = opts.maxDepth ?? 64;
  const out: ParsedOsqueryLog = { records: [], errors: [] };
  if (typeof input === 'string' && /^\s*\[/.test(input)) {
    let parsed: { value: unknown; starts: Array<{ line: number }> };
    try {
      parsed = parseJsonArrayLossless(input, { maxDepth });
    } catch (error) {
      const line = error instanceof JsonSyntaxError ? error.line : 1;
      out.errors.push({ index: 0, line, code: 'INVALID_JSON', message: `line ${line}: the JSON array is not valid JSON: ${syntaxMessage(error)}` });
      return out;
    }
    const items = parsed.value as unknown[];
    collect(items.map((value, index) => ({ value, position: { index, line: parsed.starts[index]?.line ?? 1 } })), true, out);
    return out;
  }
  const lines = typeof input === 'string' ? input.split('\n') : input;
  const values: Array<{ value: unknown; position: OsqueryPosition }> = [];
  let index = 0;
  for (let i = 0; i < lines.length; i++) {
    const text = (lines[i] ?? '').replace(/\r$/, '');
    if (text.trim().length === 0) continue;
    const position = { index: index++, line: i + 1 };
    try {
      values.push({ value: parseLine(text, maxDepth), position });
    } catch (error) {
      out.errors.push({ ...position, code: 'INVALID_JSON', message: `line ${position.line}: not valid JSON: ${syntaxMessage(error)}` });
    }
  }
  collect(values, false, out);
  out.errors.sort((a, b) => a.index - b.index);
  return out;
}

/** The TLS logger's body: `{"node_key": "...", "log_type": "result" | "status", "data": [records]}`. */
export interface OsqueryTlsLog extends ParsedOsqueryLog {
  nodeKey: string | null;
  logType: 'result' | 'status';
}

/**
 * The body osqueryd's TLS logger POSTs (plugins/logger/tls_logger.cpp) ->
 * node key, log type and records. Big integers keep their digits.
 *
 * @throws AppError INVALID_JSON (not JSON) or BAD_USER_INPUT (not that shape).
 */
export function parseOsqueryTlsBody(text: string, opts: ParseOsqueryOptions = {}): OsqueryTlsLog {
  let body: unknown;
  try {
    body = parseJsonLossless(text, { maxDepth: opts.maxDepth ?? 64 });
  } catch (error) {
    throw new AppError('INVALID_JSON', `the body is not valid JSON: ${syntaxMessage(error)}`, {
      line: error instanceof JsonSyntaxError ? error.line : null,
    });
  }
  const shape = 'the TLS logger body must be {"node_key": "...", "log_type": "result" or "status", "data": [...]}';
  if (!isPlainObject(body)) throw new AppError('BAD_USER_INPUT', `${shape}; received ${describe(body)}`, { received: describe(body) });
  const logType = body['log_type'];
  if (logType !== 'result' && logType !== 'status') {
    throw new AppError('BAD_USER_INPUT', `${shape}; "log_type" is ${JSON.stringify(logType ?? null)}`, { field: 'log_type' });
  }
  const data = body['data'];
  if (!Array.isArray(data)) throw new AppError('BAD_USER_INPUT', `${shape}; "data" is ${describe(data)}`, { field: 'data' });
  const nodeKey = body['node_key'];
  return { nodeKey: typeof nodeKey === 'string' ? nodeKey : null, logType, ...readOsqueryValues(data) };
}

/**
 * Per-record errors -> one AppError for an all-or-nothing request: the
 * first error's code, a message naming it (and how many others), and details
 * `{ line, index, errors }` with the first 20 errors.
 */
export function osqueryErrorsToAppError(errors: readonly OsqueryLineError[]): AppError {
  const first = errors[0];
  if (first === undefined) return new AppError('BAD_USER_INPUT', 'no osquery records', {});
  const more = errors.length > 1 ? ` (and ${errors.length - 1} more bad record${errors.length > 2 ? 's' : ''}; nothing was written)` : ' (nothing was written)';
  return new AppError(first.code, `${first.message}${more}`, {
    line: first.line,
    index: first.index,
    errors: errors.slice(0, 20).map((e) => ({ line: e.line, index: e.index, code: e.code, message: e.message })),
  });
}
