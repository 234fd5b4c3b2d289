/**
 * Multi-row INSERT text from row tuples already written as SQL literal text
 * (event-literals.ts). Identifiers go through quoteIdentifier. The text is
 * sent without placeholders because a `?` inside a quoted field name would
 * otherwise be taken for one. Pure: no I/O.
 */
import { quoteIdentifier } from './identifiers.js';

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
 * Example: ('t', ['a', 'at'], ["(1,'x')", "(NULL,'y')"]) ->
 *   ["INSERT INTO `t` (`a`, `at`) VALUES (1,'x'),(NULL,'y')"]
 */
export function buildInsertStatements(
  table: string,
  columns: readonly string[],
  tuples: readonly string[],
  maxChars = MAX_STATEMENT_CHARS,
): string[] {
  if (tuples.length === 0) return [];
  const head = `INSERT INTO ${quoteIdentifier(table)} (${columns.map(quoteIdentifier).join(', ')}) VALUES `;
  const statements: string[] = [];
  let from = 0;
  let chars = head.length;
  for (let i = 0; i < tuples.length; i++) {
    const length = (tuples[i] as string).length + 1;
    if (i > from && chars + length > maxChars) {
      statements.push(head + tuples.slice(from, i).join(','));
      from = i;
      chars = head.length;
    }
    chars += length;
  }
  statements.push(head + (from === 0 ? tuples : tuples.slice(from)).join(','));
  return statements;
}

/**
 * The texts to send, one per round trip, to run `statements` as one
 * transaction on a multi-statement session: usually one,
 * `START TRANSACTION;\n<statements>;\nCOMMIT`; split between statements
 * where the text would grow past `maxChars` (a statement longer than that
 * goes alone). The first text opens the transaction and the last commits it.
 * Example: (['A', 'B']) -> ['START TRANSACTION;\nA;\nB;\nCOMMIT'];
 *          (['AAAA', 'BBBB'], 6) -> ['START TRANSACTION;\nAAAA', 'BBBB;\nCOMMIT']
 */
export function transactionRoundTrips(statements: readonly string[], maxChars: number): string[] {
  if (statements.length === 0) return [];
  const groups: string[][] = [];
  let group: string[] = [];
  let chars = 0;
  for (const statement of statements) {
    if (group.length > 0 && chars + statement.length > maxChars) {
      groups.push(group);
      group = [];
      chars = 0;
    }
    group.push(statement);
    chars += statement.length + 2;
  }
  groups.push(group);
  (groups[0] as string[]).unshift('START TRANSACTION');
  (groups[groups.length - 1] as string[]).push('COMMIT');
  return groups.map((parts) => parts.join(';\n'));
}
