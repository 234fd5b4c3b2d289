/**
 * Executes users' read-only SQL on one server: on a reader session (READ
 * ONLY, statement time limit) for single-shard queries, or inside a READ ONLY
 * transaction on a staging connection for federated ones. Converts cells as
 * result-types.ts says and caps the rows. It must not decide where a query
 * runs (route-query.ts and the query service do).
 *
 * How a result is bounded and shaped:
 * - Rows: the SQL asks for at most maxRows + 1 rows (row-cap.ts); one past
 *   maxRows means more exist (`truncatedReason: 'rows'`).
 * - Bytes (query_max_bytes): every row is measured as it arrives (mysql2
 *   streams rows, one packet each), as the JSON size of its cells and keys.
 *   The first row past the budget ends the result: the rows before it are
 *   the answer (`truncatedReason: 'bytes'`), and the connection is destroyed
 *   at once, which stops the server sending (it fails its next write and ends
 *   the query) and tells the pool to replace it. So the gateway holds at
 *   most the budget plus one packet (bounded by the server's
 *   max_allowed_packet), never the whole result.
 * - Cells convert per column (result-types.ts converterOf) from what mysql2
 *   reads on its own; only a result with a JSON column keeps a per-cell
 *   typeCast, which costs mysql2 an object and three closures per cell.
 * - Column names are data: `constructor` or `toString` are ordinary own
 *   keys of a row; a result with a column named `__proto__` (which an
 *   assignment would take as the prototype) is built of prototype-less
 *   objects instead (slower: V8 keeps them as dictionaries). Rows are read
 *   as arrays, by mysql2's compiled row parser when the result has no JSON
 *   column and no name it refuses to compile (`__proto__` and the other
 *   `__..etter__` names), else by its static one (`disableEval`). The
 *   compiled parsers are cached per column list, at most 1000 of them
 *   (shard-pool.ts ROW_PARSER_CACHE), since users choose the names.
 * - Two columns of the same name would collapse into one key: the result is
 *   refused (DUPLICATE_COLUMN_NAME) as soon as the column list arrives,
 *   before any row is read; so is the server's own ER_DUP_FIELDNAME (a
 *   derived table, or the row cap's wrapper, with duplicates).
 * - Binary columns (BINARY, VARBINARY, BLOB, BIT: the binary character set)
 *   come back as base64 strings, and their type says `binary(base64)`.
 */
import type { FieldPacket, QueryError } from 'mysql2';
import { AppError } from '../errors/app-error.js';
import type { PooledConnection } from '../shards/connection.js';
import type { SqlValue } from '../schema/coerce-value.js';
import { castCell, converterOf, isBinaryField, sqlTypeName, typeNameOfNumber, BINARY_TYPE_NAME, type CastField, type CellConverter, type CellValue } from './result-types.js';

/** One result column: its name and SQL type, in the server's order. */
export interface QueryColumn {
  name: string;
  type: string;
}

/** Which limit cut a result: the row cap (query_max_rows) or the byte budget (query_max_bytes). */
export type TruncatedReason = 'rows' | 'bytes';

/** A result row: an object keyed by column name (any name is an own key; see the module header for `__proto__`). */
export type ResultRow = Record<string, CellValue>;

/** Rows of a result, already JSON-ready, plus whether a limit cut them and which. */
export interface QueryRows {
  columns: QueryColumn[];
  rows: ResultRow[];
  truncated: boolean;
  /** Null when not truncated. */
  truncatedReason: TruncatedReason | null;
}

/** Bounds of one result. */
export interface ResultLimits {
  /** Rows returned at most (the SQL asks for one more to detect truncation). */
  maxRows: number;
  /** Bytes of rows returned at most (their JSON size, keys included). */
  maxBytes: number;
}

/** Column names mysql2's compiled row parser refuses (helpers.js privateObjectProps): their results keep the static parser. */
export const UNCOMPILABLE_NAMES: ReadonlySet<string> = new Set(['__proto__', '__defineGetter__', '__defineSetter__', '__lookupGetter__', '__lookupSetter__']);

/** JSON bytes a row adds besides its cells: `{}` and a comma. */
const ROW_OVERHEAD = 3;
/** JSON bytes a cell adds besides its key and value: quotes, colon, comma. */
const CELL_OVERHEAD = 4;

/** Strings up to this length are measured in JavaScript; longer ones by Buffer.byteLength (a native call, worth it only then). */
const SHORT_STRING = 64;

/**
 * UTF-8 bytes of `text`, as Buffer.byteLength counts them (a lone surrogate
 * is 3, the replacement character it becomes).
 * @example utf8Length('né') // => 3
 */
export function utf8Length(text: string): number {
  if (text.length > SHORT_STRING) return Buffer.byteLength(text, 'utf8');
  let bytes = text.length;
  for (let i = 0; i < text.length; i++) {
    const unit = text.charCodeAt(i);
    if (unit < 0x80) continue;
    if (unit < 0x800) bytes += 1;
    else if (unit >= 0xd800 && unit <= 0xdbff && i + 1 < text.length && (text.charCodeAt(i + 1) & 0xfc00) === 0xdc00) {
      // A surrogate pair: two units, four bytes.
      bytes += 2;
      i++;
    } else bytes += 2;
  }
  return bytes;
}

/** JSON size of a cell value, in bytes (strings as UTF-8 plus quotes; escapes not counted). */
export function cellBytes(value: CellValue): number {
  if (value === null) return 4;
  switch (typeof value) {
    case 'string':
      return utf8Length(value) + 2;
    case 'number':
      return String(value).length;
    case 'boolean':
      return value ? 4 : 5;
    default:
      return Buffer.byteLength(JSON.stringify(value), 'utf8');
  }
}

/** JSON size of a row (as {@link cellBytes} counts). */
export function rowBytes(row: ResultRow): number {
  let bytes = ROW_OVERHEAD;
  for (const key of Object.keys(row)) bytes += Buffer.byteLength(key, 'utf8') + CELL_OVERHEAD + cellBytes(row[key] ?? null);
  return bytes;
}

/**
 * Cuts `rows` to `limits` (rows first, then bytes in order), for results
 * merged from several servers. `truncated` (a part was cut already) is kept.
 */
export function capRows(rows: readonly ResultRow[], limits: ResultLimits, already: TruncatedReason | null = null): { rows: ResultRow[]; truncatedReason: TruncatedReason | null } {
  let reason: TruncatedReason | null = already;
  let kept = rows.length > limits.maxRows ? rows.slice(0, limits.maxRows) : [...rows];
  if (rows.length > limits.maxRows) reason ??= 'rows';
  let bytes = 0;
  for (let i = 0; i < kept.length; i++) {
    bytes += rowBytes(kept[i] as ResultRow);
    if (bytes > limits.maxBytes) {
      kept = kept.slice(0, i);
      reason = 'bytes';
      break;
    }
  }
  return { rows: kept, truncatedReason: reason };
}

/** The first name that occurs twice, or undefined. */
function duplicateName(names: readonly string[]): string | undefined {
  // A few columns (most results): no Set to build.
  if (names.length <= 16) {
    for (let i = 1; i < names.length; i++) if (names.indexOf(names[i] as string) < i) return names[i];
    return undefined;
  }
  const seen = new Set<string>();
  for (const name of names) {
    if (seen.has(name)) return name;
    seen.add(name);
  }
  return undefined;
}

/** The DUPLICATE_COLUMN_NAME answer for `name`. */
export function duplicateColumn(name: string | undefined): AppError {
  const shown = name === undefined ? 'a column name' : `"${name}"`;
  return new AppError(
    'DUPLICATE_COLUMN_NAME',
    `the result has two columns named ${shown}, and rows are objects keyed by column name, so one would hide the other; give them distinct aliases, for example SELECT a.id AS a_id, b.id AS b_id`,
    name === undefined ? {} : { column: name },
  );
}

/** MySQL/MariaDB ER_DUP_FIELDNAME: a derived table (or the row cap's wrapper) has two columns of one name. */
function isDuplicateFieldError(error: QueryError): boolean {
  return error.code === 'ER_DUP_FIELDNAME' || error.errno === 1060;
}

/** The quoted name in "Duplicate column name 'x'", for the message. */
function duplicateNameInMessage(error: QueryError): string | undefined {
  const match = /'(.*)'/.exec((error as QueryError & { sqlMessage?: string }).sqlMessage ?? error.message);
  return match?.[1];
}

/** Stops a result mid-stream: the server fails its next write and ends the query; the pool drops the connection. */
function abandon(connection: PooledConnection): void {
  connection.destroy();
  (connection as unknown as { stream?: { destroy?: () => void } }).stream?.destroy?.();
}

interface FieldWithName {
  name: string;
  typeName?: string;
  columnType?: number;
  type?: number;
  columnLength?: number;
  length?: number;
  characterSet?: number;
  extendedFormat?: string;
}

/** mysql2's type name of a result column (e.g. 'LONGLONG'). */
function typeOf(field: FieldWithName): string {
  return field.typeName ?? typeNameOfNumber(field.columnType ?? field.type);
}

function columnsOf(fields: readonly FieldWithName[]): QueryColumn[] {
  return fields.map((field) => {
    const type = typeOf(field);
    return {
      name: field.name,
      type: isBinaryField({ type, characterSet: field.characterSet }) ? BINARY_TYPE_NAME : sqlTypeName({
        type,
        length: field.columnLength ?? field.length ?? 0,
        extendedFormat: field.extendedFormat,
      }),
    };
  });
}

/**
 * Runs `sql` (already validated and row-capped to at most maxRows + 1 rows)
 * and shapes the result within `limits` (see the module header).
 * `values`, when given, are bound to the `?` placeholders by mysql2 (the
 * GraphQL rows filter); users' SQL text is sent as it is.
 * Rejects with the driver's error, or DUPLICATE_COLUMN_NAME.
 */
export function runSelect(connection: PooledConnection, sql: string, limits: ResultLimits, values?: readonly SqlValue[]): Promise<QueryRows> {
  return new Promise((resolve, reject) => {
    let settled = false;
    let names: string[] = [];
    /** UTF-8 bytes of each column's name (its key in every row) plus a cell's JSON punctuation, measured once per result. */
    let keyBytes: number[] = [];
    /** Per column, how mysql2's own value becomes the API's (null: as it is); empty while the typeCast converts. */
    let converters: Array<CellConverter | null> = [];
    /** Rows as ordinary objects (V8's fast ones, twice as quick to build and serialise) unless a column is named __proto__. */
    let plainRows = true;
    const rows: ResultRow[] = [];
    let bytes = 0;
    /** Set once the answer is decided: later cells are not even read. */
    let stopped = false;

    const finish = (truncatedReason: TruncatedReason | null, columns: QueryColumn[]): void => {
      if (settled) return;
      settled = true;
      resolve({ columns, rows, truncated: truncatedReason !== null, truncatedReason });
    };
    const fail = (error: unknown): void => {
      if (settled) return;
      settled = true;
      reject(error);
    };

    let columns: QueryColumn[] = [];
    // One fixed-shape literal (no spread): mysql2 copies it and reads it on every row, and a spread would leave it a dictionary.
    const command = connection.query({
      sql,
      values: values === undefined ? undefined : [...values],
      rowsAsArray: true,
      disableEval: true,
      // Only for results with a JSON column: the others drop it, and disableEval, once their columns are known (below).
      typeCast: (field: CastField, next: () => unknown) => (stopped ? null : castCell(field, next)),
    } as Parameters<PooledConnection['query']>[0]);

    command.on('fields', (fields: FieldPacket[]) => {
      const list = (fields ?? []) as unknown as FieldWithName[];
      names = list.map((f) => f.name);
      keyBytes = names.map((name) => Buffer.byteLength(name, 'utf8') + CELL_OVERHEAD);
      plainRows = !names.includes('__proto__');
      columns = columnsOf(list);
      const duplicate = duplicateName(names);
      if (duplicate !== undefined) {
        stopped = true;
        abandon(connection);
        fail(duplicateColumn(duplicate));
        return;
      }
      // Without a JSON column every cell converts from mysql2's own value, so the per-cell typeCast goes:
      // mysql2's static row parser reads the query's options on each row, built after this event.
      const each = list.map((field) =>
        converterOf({ type: typeOf(field), length: field.columnLength ?? field.length ?? 0, characterSet: field.characterSet, extendedFormat: field.extendedFormat }),
      );
      const options = (command as unknown as { options?: { typeCast?: unknown; disableEval?: unknown } }).options;
      if (options !== undefined && each.every((c) => c !== undefined)) {
        options.typeCast = true;
        converters = each as Array<CellConverter | null>;
        // mysql2's compiled row parser (rows as arrays: the names only key its cache) reads rows several times faster;
        // it refuses the names it cannot compile, which keep the static one.
        if (!names.some((name) => UNCOMPILABLE_NAMES.has(name))) options.disableEval = false;
      }
    });
    command.on('result', (cells: unknown) => {
      if (stopped) return;
      if (rows.length >= limits.maxRows) {
        // One past the cap: more rows exist. The capped SQL sends no more than this one.
        stopped = true;
        return;
      }
      const row = cells as unknown[];
      const object: ResultRow = plainRows ? {} : (Object.create(null) as ResultRow);
      let size = ROW_OVERHEAD;
      for (let i = 0; i < names.length; i++) {
        const convert = converters[i];
        const raw = row[i] ?? null;
        const value = convert === undefined || convert === null || raw === null ? (raw as CellValue) : convert(raw);
        size += (keyBytes[i] ?? 0) + cellBytes(value);
        object[names[i] as string] = value;
      }
      bytes += size;
      if (bytes > limits.maxBytes) {
        // Past the byte budget: the rows before this one are the answer; the server stops sending.
        stopped = true;
        abandon(connection);
        finish('bytes', columns);
        return;
      }
      rows.push(object);
    });
    command.on('error', (error: QueryError) => {
      fail(isDuplicateFieldError(error) ? duplicateColumn(duplicateNameInMessage(error)) : error);
    });
    command.on('end', () => {
      finish(stopped ? 'rows' : null, columns);
    });
  });
}
