/**
 * The loader a user would write instead of the gateway: plain tables (an
 * AUTO_INCREMENT id and one typed column per field, no other index, no
 * ingestion time) and a plain `raw_logs (id, family VARCHAR(64), log
 * LONGTEXT)`, filled per batch with BEGIN; one multi-row INSERT of the typed
 * values; one multi-row INSERT of each event's JSON text; COMMIT. Unlike the
 * pre-serialised baselines, it builds its value arrays and calls
 * JSON.stringify inside the timed loop (mysql2 escapes the arrays), as a
 * hand-written loader does.
 */
import type mysql from 'mysql2/promise';
import { quoteId, type FieldSpec, type LogEvent } from './data.js';

/** Plain column types a user would pick for each declared type. */
const PLAIN_TYPES: Record<FieldSpec['type'], string> = {
  string: 'TEXT',
  int: 'BIGINT',
  float: 'DOUBLE',
  bool: 'BOOLEAN',
  timestamp: 'DATETIME(6)',
  date: 'DATE',
  json: 'JSON',
};

/** CREATE TABLE of the loader's plain typed table. */
export function plainTableSql(table: string, fields: readonly FieldSpec[]): string {
  const columns = ['id BIGINT AUTO_INCREMENT PRIMARY KEY', ...fields.map((f) => `${quoteId(f.name)} ${PLAIN_TYPES[f.type]}`)];
  return `CREATE TABLE ${quoteId(table)} (${columns.join(', ')}) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci`;
}

/** CREATE TABLE of the loader's plain raw_logs. */
export function plainRawLogsSql(table = 'raw_logs'): string {
  return `CREATE TABLE IF NOT EXISTS ${quoteId(table)} (id BIGINT AUTO_INCREMENT PRIMARY KEY, family VARCHAR(64), log LONGTEXT) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci`;
}

/** A loader for one table: the statements are fixed, the values are built per call. */
export interface Loader {
  /** Writes `events` in one transaction. */
  write(connection: mysql.Connection, events: readonly LogEvent[]): Promise<void>;
}

function plainValue(type: FieldSpec['type'], value: unknown): unknown {
  if (value === null || value === undefined) return null;
  if (type === 'timestamp') return new Date(String(value));
  if (type === 'json') return JSON.stringify(value);
  return value;
}

/** The hand-written loader for `table` (of `fields`) and `rawTable`, writing `family` into raw_logs.family. */
export function makeLoader(table: string, fields: readonly FieldSpec[], family: string, rawTable = 'raw_logs'): Loader {
  const typedSql = `INSERT INTO ${quoteId(table)} (${fields.map((f) => quoteId(f.name)).join(', ')}) VALUES ?`;
  const rawSql = `INSERT INTO ${quoteId(rawTable)} (family, log) VALUES ?`;
  return {
    async write(connection, events) {
      const rows = events.map((event) => fields.map((f) => plainValue(f.type, event[f.name])));
      const raws = events.map((event) => [family, JSON.stringify(event)]);
      await connection.query('BEGIN');
      try {
        await connection.query(typedSql, [rows]);
        await connection.query(rawSql, [raws]);
        await connection.query('COMMIT');
      } catch (error) {
        await connection.query('ROLLBACK').catch(() => undefined);
        throw error;
      }
    },
  };
}
