/**
 * Multi-row INSERT text from row tuples already written as SQL literal text
 * (event-literals.ts). Identifiers go through quoteIdentifier. The text is
 * sent without placeholders because a `?` inside a quoted field name would
 * otherwise be taken for one. Pure: no I/O.
 */
import { quoteIdentifier } from '../schema/identifiers.js';

/**
 * Characters (UTF-16 code units, at most 3 UTF-8 bytes each) of row text per
 * statement before a new statement starts: at most 3 MiB, so a statement fits
 * any server's max_allowed_packet (4 MiB and up) unless one row alone is
 * larger. Several statements still go in one round trip (transactionRoundTrips).
 */
export const MAX_STATEMENT_CHARS = 1024 * 1024;

/**
 * One SQL statement as the pieces whose concatenation is its text, and that
 * text's length. Statements stay in pieces until the text of a whole round
 * trip is joined once (transactionRoundTrips): each intermediate join of
 * megabytes of row text would be one more copy, and one more large string
 * that only a full garbage collection frees.
 */
export interface StatementParts {
  parts: string[];
  chars: number;
}

/** A statement given as text, in the form transactionRoundTrips takes. */
export function statementOf(sql: string): StatementParts {
  return { parts: [sql], chars: sql.length };
}

/** The text of a statement. */
export function statementText(statement: StatementParts): string {
  return statement.parts.join('');
}

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

/**
 * The texts to send, one per round trip, to run `statements` as one
 * transaction on a multi-statement session: usually one,
 * `START TRANSACTION;\n<statements>;\nCOMMIT`; split between statements
 * where the text would grow past `maxChars` (a statement longer than that
 * goes alone). The first text opens the transaction and the last commits it.
 * Example: (['A', 'B']) -> ['START TRANSACTION;\nA;\nB;\nCOMMIT'];
 *          (['AAAA', 'BBBB'], 6) -> ['START TRANSACTION;\nAAAA', 'BBBB;\nCOMMIT']
 *          (statements given by statementOf)
 */
export function transactionRoundTrips(statements: readonly StatementParts[], maxChars: number): string[] {
  if (statements.length === 0) return [];
  const texts: string[] = [];
  let pieces: string[] = ['START TRANSACTION'];
  let chars = 0;
  for (const statement of statements) {
    if (chars > 0 && chars + statement.chars > maxChars) {
      texts.push(pieces.join(''));
      pieces = [];
      chars = 0;
    }
    if (pieces.length > 0) pieces.push(';\n');
    for (const part of statement.parts) pieces.push(part);
    chars += statement.chars + 2;
  }
  pieces.push(';\nCOMMIT');
  texts.push(pieces.join(''));
  return texts;
}
