/**
 * Declared types of log fields and their MySQL/MariaDB column types (README,
 * "Declared types"), in both directions. Pure: no I/O, no knex. Value coercion lives
 * in coerce-value.ts; DDL text lives in table-ddl.ts.
 */

/** The canonical declared types a schema may use (aliases map onto these). */
export type DeclaredType = 'string' | 'int' | 'float' | 'bool' | 'timestamp' | 'date' | 'json' | 'uint64';

/**
 * The one table of declared type -> column: the type used in DDL, and the
 * DATA_TYPE information_schema (and describe) reports for it. `JSON` is
 * accepted by both servers: MySQL stores it natively, MariaDB makes it
 * `LONGTEXT` with a `json_valid()` CHECK constraint
 * (https://mariadb.com/kb/en/json-data-type/), and both report 'json'.
 * `DATETIME(6)` keeps microseconds; it has no time zone, values are stored
 * as UTC. `BOOLEAN` is `TINYINT(1)`. `uint64` (osquery's UNSIGNED_BIGINT,
 * exact 0..2^64-1) is `BIGINT UNSIGNED`, reported as DATA_TYPE `bigint`.
 */
const COLUMN_TYPES: Readonly<Record<DeclaredType, { ddl: string; dataType: string }>> = Object.freeze({
  string: { ddl: 'TEXT', dataType: 'text' },
  int: { ddl: 'BIGINT', dataType: 'bigint' },
  float: { ddl: 'DOUBLE', dataType: 'double' },
  bool: { ddl: 'BOOLEAN', dataType: 'tinyint' },
  timestamp: { ddl: 'DATETIME(6)', dataType: 'datetime' },
  date: { ddl: 'DATE', dataType: 'date' },
  json: { ddl: 'JSON', dataType: 'json' },
  uint64: { ddl: 'BIGINT UNSIGNED', dataType: 'bigint' },
});

/** Every canonical declared type, in documentation order. */
export const DECLARED_TYPES: readonly DeclaredType[] = Object.freeze(Object.keys(COLUMN_TYPES) as DeclaredType[]);

/** Which server family a shard runs; decides a few DDL/introspection details. */
export type ServerFlavor = 'mariadb' | 'mysql';

/**
 * Every accepted spelling (lower case) -> canonical type. A Map, not an object
 * literal, so that names like "constructor" or "__proto__" never resolve.
 */
const TYPE_ALIASES: ReadonlyMap<string, DeclaredType> = new Map<string, DeclaredType>([
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
]);

/** Every accepted type spelling, canonical names first; for error messages. */
export const ACCEPTED_TYPE_NAMES: readonly string[] = Object.freeze([...TYPE_ALIASES.keys()]);

/**
 * Parses a declared type name, case-insensitively, aliases included. Nothing is
 * trimmed: `" int"` is unknown. Only ASCII letters, digits and `_` can match,
 * so Unicode case tricks (Kelvin sign, dotted I) never produce a type.
 *
 * @example parseDeclaredType('Integer') // => 'int'
 * @example parseDeclaredType('varchar') // => undefined
 */
export function parseDeclaredType(raw: string): DeclaredType | undefined {
  if (!/^[A-Za-z][A-Za-z0-9_]{0,15}$/.test(raw)) return undefined;
  return TYPE_ALIASES.get(raw.toLowerCase());
}

/**
 * The column type used in DDL for a declared type.
 *
 * @example columnSqlType('int') // => 'BIGINT'
 * @example columnSqlType('timestamp') // => 'DATETIME(6)'
 */
export function columnSqlType(type: DeclaredType): string {
  return COLUMN_TYPES[type].ddl;
}

/**
 * The MySQL DATA_TYPE a declared type's column reports (describe's `type`).
 *
 * @example columnDataType('bool') // => 'tinyint'
 */
export function columnDataType(type: DeclaredType): string {
  return COLUMN_TYPES[type].dataType;
}

/** One column as read from information_schema.COLUMNS. */
export interface ColumnTypeInfo {
  /** `DATA_TYPE`, e.g. `bigint`, `longtext`. */
  dataType: string;
  /** `COLUMN_TYPE`, e.g. `bigint(20)`, `tinyint(1)`, `bigint(20) unsigned`. */
  columnType: string;
  /** True when a `json_valid(column)` CHECK constraint exists (how MariaDB marks JSON columns). */
  checkJson?: boolean;
}

/**
 * Reverse map: which declared type an existing column holds, or `undefined`
 * when the column is not one this gateway would create (so a column another
 * process added can be checked against the declared type).
 *
 * Accepted spellings: `bigint`/`bigint(20)` -> int; `bigint(20) unsigned`
 * (not zerofill) -> uint64; `tinyint(1)`
 * and `tinyint` (MySQL 8.0.19+ drops display widths) -> bool, other tinyint
 * widths and unsigned -> undefined; `text` -> string; `double` -> float (not
 * unsigned); `datetime` at any fractional precision -> timestamp; `date` ->
 * date; `json`, or `longtext` with a json_valid CHECK -> json. A `longtext`
 * without that check is not ours (strings are TEXT) -> undefined.
 *
 * @example declaredTypeOfColumn({ dataType: 'bigint', columnType: 'bigint(20)' }) // => 'int'
 * @example declaredTypeOfColumn({ dataType: 'longtext', columnType: 'longtext', checkJson: true }) // => 'json'
 * @example declaredTypeOfColumn({ dataType: 'int', columnType: 'int(11)' }) // => undefined
 */
export function declaredTypeOfColumn(column: ColumnTypeInfo): DeclaredType | undefined {
  const dataType = column.dataType.trim().toLowerCase();
  const columnType = column.columnType.trim().toLowerCase();
  const unsigned = /\bunsigned\b/.test(columnType);
  switch (dataType) {
    case 'bigint':
      if (!unsigned) return 'int';
      return /\bzerofill\b/.test(columnType) ? undefined : 'uint64';
    case 'tinyint':
      return columnType === 'tinyint(1)' || columnType === 'tinyint' ? 'bool' : undefined;
    case 'bool':
    case 'boolean':
      return 'bool';
    case 'text':
      return 'string';
    case 'double':
      return unsigned ? undefined : 'float';
    case 'datetime':
      return 'timestamp';
    case 'date':
      return 'date';
    case 'json':
      return 'json';
    case 'longtext':
      return column.checkJson === true ? 'json' : undefined;
    default:
      return undefined;
  }
}
