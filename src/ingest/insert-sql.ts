/**
 * Multi-row INSERT text from row tuples already written as SQL literal text
 * (event-literals.ts). Identifiers go through quoteIdentifier. The text is
 * sent without placeholders because a `?` inside a quoted field name would
 * otherwise be taken for one. Pure: no I/O.
 */
import { quoteIdentifier } from './identifiers.js';

/**
 * Bytes of row text per statement before a new one starts: far below the
 * server's max_allowed_packet (16 MiB on MariaDB 10.11, 64 MiB on MySQL 8).
 */
export const MAX_STATEMENT_BYTES = 4 * 1024 * 1024;

/**
 * INSERT statements writing `tuples` (each `(v1,v2,...)`, one per row, in
 * the order of `columns`) into `table`. Rows are split over several
 * statements when the text grows past `maxBytes`.
 * Example: ('t', ['a', 'at'], ["(1,'x')", "(NULL,'y')"]) ->
 *   ["INSERT INTO `t` (`a`, `at`) VALUES (1,'x'),(NULL,'y')"]
 */
export function buildInsertStatements(
  table: string,
  columns: readonly string[],
  tuples: readonly string[],
  maxBytes = MAX_STATEMENT_BYTES,
): string[] {
  if (tuples.length === 0) return [];
  const head = `INSERT INTO ${quoteIdentifier(table)} (${columns.map(quoteIdentifier).join(', ')}) VALUES `;
  const statements: string[] = [];
  let from = 0;
  let bytes = head.length;
  for (let i = 0; i < tuples.length; i++) {
    const length = (tuples[i] as string).length + 1;
    if (i > from && bytes + length > maxBytes) {
      statements.push(head + tuples.slice(from, i).join(','));
      from = i;
      bytes = head.length;
    }
    bytes += length;
  }
  statements.push(head + (from === 0 ? tuples : tuples.slice(from)).join(','));
  return statements;
}
