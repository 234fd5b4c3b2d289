/**
 * How result values and column types leave the gateway: numbers as JSON
 * numbers (integers past 2^53 and long decimals as strings), DATETIME as
 * ISO-8601 UTC, JSON columns parsed, BOOLEAN (TINYINT(1)) as true/false,
 * binary strings (BINARY, VARBINARY, BLOB, BIT: the binary character set) as
 * base64 text, typed `binary(base64)`.
 * Pure: used as mysql2's per-query typeCast.
 */
import { sqlDateTimeToIso } from '../schema/time.js';

/** The part of mysql2's typeCast field that we read. */
export interface CastField {
  type: string;
  length: number;
  extendedFormat?: string | undefined;
  string(): string | null;
}

/** A JSON-ready cell value. */
export type CellValue = string | number | boolean | null | Record<string, unknown> | unknown[];

/** Decimals with more significant digits than a double holds exactly stay strings. */
const MAX_EXACT_DIGITS = 15;

/**
 * Decimal text -> number when exact enough, else the text.
 * Examples: '41.5000' -> 41.5; '12345678901234567890.1' -> '12345678901234567890.1'.
 */
export function decimalToJson(text: string): number | string {
  const digits = text.replace(/^-/, '').replace('.', '').replace(/^0+/, '');
  const significant = digits.replace(/0+$/, '').length;
  if (significant > MAX_EXACT_DIGITS) return text;
  const n = Number(text);
  return Number.isFinite(n) ? n : text;
}

/** True when the column carries JSON (MySQL's native type, or MariaDB's json format metadata). */
export function isJsonField(field: Pick<CastField, 'type' | 'extendedFormat'>): boolean {
  return field.type === 'JSON' || field.extendedFormat === 'json';
}

/**
 * Converts one cell as the API promises. `next` is mysql2's default
 * conversion (with supportBigNumbers: numbers when safe, else strings).
 */
export function castCell(field: CastField, next: () => unknown): CellValue {
  if (isJsonField(field)) {
    const text = field.string();
    if (text === null) return null;
    try {
      return JSON.parse(text) as CellValue;
    } catch {
      return text;
    }
  }
  switch (field.type) {
    case 'NEWDECIMAL':
    case 'DECIMAL': {
      const text = field.string();
      return text === null ? null : decimalToJson(text);
    }
    case 'DATETIME':
    case 'DATETIME2':
    case 'TIMESTAMP':
    case 'TIMESTAMP2': {
      const text = field.string();
      return text === null ? null : sqlDateTimeToIso(text);
    }
    case 'DATE':
    case 'NEWDATE':
    case 'TIME':
    case 'TIME2':
      return field.string();
    case 'TINY': {
      const value = next();
      if (field.length === 1 && typeof value === 'number') return value !== 0;
      return value as CellValue;
    }
    default: {
      const value = next();
      // mysql2 gives a Buffer exactly for the binary character set: bytes, not text.
      if (Buffer.isBuffer(value)) return value.toString('base64');
      return value as CellValue;
    }
  }
}

/** A column's conversion of the values mysql2 reads without a typeCast (dateStrings, supportBigNumbers), as castCell converts them. */
export type CellConverter = (value: unknown) => CellValue;

/** What {@link converterOf} reads of a result column. */
export interface ConvertedField {
  type: string;
  length: number;
  characterSet?: number | undefined;
  extendedFormat?: string | undefined;
}

const decimalCell: CellConverter = (value) => (typeof value === 'string' ? decimalToJson(value) : (value as CellValue));
const dateTimeCell: CellConverter = (value) => (typeof value === 'string' ? sqlDateTimeToIso(value) : (value as CellValue));
const booleanCell: CellConverter = (value) => (typeof value === 'number' ? value !== 0 : (value as CellValue));
const bytesCell: CellConverter = (value) => (Buffer.isBuffer(value) ? value.toString('base64') : (value as CellValue));

/**
 * How a column's cells become what {@link castCell} gives, from the values
 * mysql2 reads on its own (no per-cell typeCast, which costs an object and
 * three closures per cell): null when they are already (integers, floats,
 * text, DATE, TIME); undefined for JSON columns, whose text castCell must
 * parse itself (mysql2 would parse it, throwing on bad JSON).
 * Example: a DECIMAL column -> '41.5000' becomes 41.5; a TEXT column -> null.
 */
export function converterOf(field: ConvertedField): CellConverter | null | undefined {
  if (isJsonField(field)) return undefined;
  switch (field.type) {
    case 'NEWDECIMAL':
    case 'DECIMAL':
      return decimalCell;
    case 'DATETIME':
    case 'DATETIME2':
    case 'TIMESTAMP':
    case 'TIMESTAMP2':
      return dateTimeCell;
    case 'TINY':
      return field.length === 1 ? booleanCell : null;
    case 'SHORT':
    case 'LONG':
    case 'INT24':
    case 'YEAR':
    case 'LONGLONG':
    case 'FLOAT':
    case 'DOUBLE':
    case 'NULL':
    case 'DATE':
    case 'NEWDATE':
    case 'TIME':
    case 'TIME2':
      return null;
    default:
      // mysql2 gives a Buffer exactly for the binary character set: bytes, not text.
      return field.characterSet === BINARY_CHARSET ? bytesCell : null;
  }
}

/** MySQL's character set number of `binary`. */
export const BINARY_CHARSET = 63;

/** Column type of binary string columns: their values are base64 text. */
export const BINARY_TYPE_NAME = 'binary(base64)';

/** Types whose binary-charset values are bytes (mysql2's Buffer branch). */
const BYTE_TYPES: ReadonlySet<string> = new Set(['VAR_STRING', 'VARCHAR', 'STRING', 'BLOB', 'TINY_BLOB', 'MEDIUM_BLOB', 'LONG_BLOB', 'BIT']);

/**
 * True when a result column carries bytes (its values are base64 text).
 * Example: UNHEX('FF') is VAR_STRING with character set 63 -> true; a TEXT column -> false.
 */
export function isBinaryField(field: { type: string; characterSet?: number | undefined }): boolean {
  return field.characterSet === BINARY_CHARSET && BYTE_TYPES.has(field.type);
}

/** MySQL protocol column type numbers (as in result field packets) -> mysql2's type names. */
const TYPE_NAMES_BY_NUMBER: Readonly<Record<number, string>> = {
  0: 'DECIMAL', 1: 'TINY', 2: 'SHORT', 3: 'LONG', 4: 'FLOAT', 5: 'DOUBLE', 6: 'NULL', 7: 'TIMESTAMP',
  8: 'LONGLONG', 9: 'INT24', 10: 'DATE', 11: 'TIME', 12: 'DATETIME', 13: 'YEAR', 14: 'NEWDATE',
  15: 'VARCHAR', 16: 'BIT', 17: 'TIMESTAMP2', 18: 'DATETIME2', 19: 'TIME2', 245: 'JSON', 246: 'NEWDECIMAL',
  247: 'ENUM', 248: 'SET', 249: 'TINY_BLOB', 250: 'MEDIUM_BLOB', 251: 'LONG_BLOB', 252: 'BLOB',
  253: 'VAR_STRING', 254: 'STRING', 255: 'GEOMETRY',
};

/** Example: 8 -> 'LONGLONG'; unknown numbers -> 'UNKNOWN'. */
export function typeNameOfNumber(type: number | undefined): string {
  return type === undefined ? 'UNKNOWN' : (TYPE_NAMES_BY_NUMBER[type] ?? 'UNKNOWN');
}

/** mysql2 field type -> the SQL type name clients see. Example: 'LONGLONG' -> 'bigint'. */
export function sqlTypeName(field: Pick<CastField, 'type' | 'length' | 'extendedFormat'>): string {
  if (isJsonField(field)) return 'json';
  switch (field.type) {
    case 'TINY': // TINYINT(1) (BOOLEAN, a bool field) too, as describe names it; its values are true/false
      return 'tinyint';
    case 'SHORT':
      return 'smallint';
    case 'INT24':
      return 'mediumint';
    case 'LONG':
      return 'int';
    case 'LONGLONG':
      return 'bigint';
    case 'FLOAT':
      return 'float';
    case 'DOUBLE':
      return 'double';
    case 'NEWDECIMAL':
    case 'DECIMAL':
      return 'decimal';
    case 'DATETIME':
    case 'DATETIME2':
      return 'datetime';
    case 'TIMESTAMP':
    case 'TIMESTAMP2':
      return 'timestamp';
    case 'DATE':
    case 'NEWDATE':
      return 'date';
    case 'TIME':
    case 'TIME2':
      return 'time';
    case 'YEAR':
      return 'year';
    case 'NULL':
      return 'null';
    case 'BLOB':
    case 'TINY_BLOB':
    case 'MEDIUM_BLOB':
    case 'LONG_BLOB':
      return 'text';
    case 'VAR_STRING':
    case 'VARCHAR':
      return 'varchar';
    case 'STRING':
      return 'char';
    default:
      return field.type.toLowerCase();
  }
}
