/**
 * Multi-row INSERT text for family rows and their raw_logs copies. Values are
 * written by sqlLiteral (sql-literal.ts) and identifiers by quoteIdentifier. The text is sent without
 * placeholders because a `?` inside a quoted field name would otherwise be
 * taken for one. Pure: no I/O.
 */
import { sqlLiteral } from './sql-literal.js';
import type { SqlValue } from './coerce-value.js';
import { quoteIdentifier } from './identifiers.js';

/**
 * Bytes of row text per statement before a new one starts: far below the
 * server's max_allowed_packet (16 MiB on MariaDB 10.11, 64 MiB on MySQL 8).
 */
export const MAX_STATEMENT_BYTES = 4 * 1024 * 1024;

/**
 * INSERT statements for `rows` into `table`; every row gets `suffix` appended
 * (e.g. the ingestion time). Rows are split over several statements when the
 * text grows past MAX_STATEMENT_BYTES.
 * Example: ('t', ['a'], [[1], ['x']], ['2024-01-01 00:00:00.000000']) ->
 *   ["INSERT INTO `t` (`a`) VALUES (1,'2024-01-01 00:00:00.000000'),('x','2024-01-01 00:00:00.000000')"]
 * (the caller's `columns` must already include the suffix columns).
 */
export function buildInsertStatements(
  table: string,
  columns: readonly string[],
  rows: ReadonlyArray<readonly SqlValue[]>,
  suffix: readonly SqlValue[] = [],
  maxBytes = MAX_STATEMENT_BYTES,
): string[] {
  if (rows.length === 0) return [];
  const head = `INSERT INTO ${quoteIdentifier(table)} (${columns.map(quoteIdentifier).join(', ')}) VALUES `;
  const tail = suffix.length === 0 ? ')' : `,${suffix.map((v) => sqlLiteral(v)).join(',')})`;
  const statements: string[] = [];
  let tuples: string[] = [];
  let bytes = head.length;
  for (const row of rows) {
    let tuple = '(';
    for (let i = 0; i < row.length; i++) tuple += (i === 0 ? '' : ',') + sqlLiteral(row[i] ?? null);
    tuple += row.length === 0 ? tail.slice(1) : tail;
    if (tuples.length > 0 && bytes + tuple.length + 1 > maxBytes) {
      statements.push(head + tuples.join(','));
      tuples = [];
      bytes = head.length;
    }
    tuples.push(tuple);
    bytes += tuple.length + 1;
  }
  statements.push(head + tuples.join(','));
  return statements;
}
