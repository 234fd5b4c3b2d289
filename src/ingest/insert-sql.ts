/**
 * Multi-row INSERT text from row tuples already written as SQL literal text
 * (event-literals.ts). Identifiers go through quoteIdentifier. The text is
 * sent without placeholders because a `?` inside a quoted field name would
 * otherwise be taken for one. Pure: no I/O.
 */
import { quoteIdentifier } from '../schema/identifiers.js';
import type { StatementParts } from '../shards/write-transaction.js';

/**
 * Characters (UTF-16 code units, at most 3 UTF-8 bytes each) of row text per
 * statement before a new statement starts: at most 3 MiB, so a statement fits
 * any server's max_allowed_packet (4 MiB and up) unless one row alone is
 * larger. Several statements still go in one round trip (transactionRoundTrips).
 */
export const MAX_STATEMENT_CHARS = 1024 * 1024;

/**
 * INSERT statements writing `tuples` (each `(v1,v2,...)`, one per row, in
 * the order of `columns`) into `table`. Rows are split over several
 * statements when the text grows past `maxChars`.
 * Example: ('t', ['a', 'at'], ["(1,'x')", "(NULL,'y')"]) -> one statement whose
 *   text is "INSERT INTO `t` (`a`, `at`) VALUES (1,'x'),(NULL,'y')"
 */
export function buildInsertStatements(
  table: string,
  columns: readonly string[],
  tuples: readonly string[],
  maxChars = MAX_STATEMENT_CHARS,
): StatementParts[] {
  if (tuples.length === 0) return [];
  const head = `INSERT INTO ${quoteIdentifier(table)} (${columns.map(quoteIdentifier).join(', ')}) VALUES `;
  const statements: StatementParts[] = [];
  let current: StatementParts = { parts: [head], chars: head.length };
  for (const tuple of tuples) {
    if (current.parts.length > 1 && current.chars + tuple.length + 1 > maxChars) {
      statements.push(current);
      current = { parts: [head], chars: head.length };
    }
    if (current.parts.length > 1) {
      current.parts.push(',');
      current.chars += 1;
    }
    current.parts.push(tuple);
    current.chars += tuple.length;
  }
  statements.push(current);
  return statements;
}
