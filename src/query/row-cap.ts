/**
 * Row cap for validated queries (DESIGN.md section 6).
 *
 * Owns one text transformation: make a validated SELECT return at most N
 * rows, and otherwise exactly its own rows. It edits the user's text at one
 * token (or appends a clause) and never re-serialises an AST, so what runs
 * is what the user wrote. Pure; it does not validate (call validateSql first).
 */
import { isCodeToken, tokenizeSql, type SqlToken, type ValidatedQuery } from './validate-sql.js';

/** Alias of the derived table used when the cap has to wrap the query. */
export const CAP_ALIAS = 'databalancer_capped';

const INTEGER = /^[0-9]+$/;

function isWord(token: SqlToken | undefined, word: string): boolean {
  return token !== undefined && token.kind === 'word' && token.text.toUpperCase() === word;
}

function isInteger(token: SqlToken | undefined): token is SqlToken {
  return token !== undefined && token.kind === 'word' && INTEGER.test(token.text);
}

/**
 * Returns SQL that yields at most `maxRows` rows of `query`, and otherwise
 * exactly the rows (and order) the original would return.
 *
 * The top-level LIMIT of a MySQL statement is always its last clause at
 * parenthesis depth 0 (INTO, FOR UPDATE and PROCEDURE, which could follow
 * it, are refused by validateSql; a LIMIT before a UNION needs
 * parentheses). So, on the tokens of `query.sql`:
 * - no LIMIT at depth 0: append `\nLIMIT maxRows` (the newline keeps a
 *   trailing `-- ...` or `# ...` comment from swallowing it). This also
 *   covers `(SELECT ...)` and `(SELECT ...) UNION (SELECT ...)`, which
 *   MariaDB 10.11 and MySQL 8 accept with a trailing LIMIT;
 * - trailing `LIMIT n`, `LIMIT o, n` or `LIMIT n OFFSET o` with n <= maxRows:
 *   unchanged;
 * - the same with n > maxRows: n's digits replaced by maxRows;
 * - any other form of top-level LIMIT: wrapped as
 *   `SELECT * FROM (\n<sql>\n) AS databalancer_capped LIMIT maxRows`.
 *   Caveat: a wrapped query fails on duplicate column names, and the server
 *   keeps the inner ORDER BY only because the inner query has a LIMIT.
 *
 * The caller passes cap + 1 to detect truncation. Throws RangeError when
 * maxRows is not a positive safe integer (a programming error).
 *
 * Example: `applyRowCap({ sql: 'SELECT * FROM t LIMIT 5, 5000', tables: ['t'] }, 1001)`
 * gives `'SELECT * FROM t LIMIT 5, 1001'`.
 */
export function applyRowCap(query: ValidatedQuery, maxRows: number): string {
  if (!Number.isSafeInteger(maxRows) || maxRows < 1) {
    throw new RangeError(`maxRows must be a positive integer, got ${maxRows}`);
  }
  const sql = query.sql;
  const code = tokenizeSql(sql).filter(isCodeToken);
  const depths: number[] = [];
  let depth = 0;
  for (const token of code) {
    if (token.text === ')') depth--;
    depths.push(depth);
    if (token.text === '(') depth++;
  }
  const topLevelLimit = code.findIndex(
    (token, k) => depths[k] === 0 && isWord(token, 'LIMIT') && code[k - 1]?.text !== '.',
  );
  if (topLevelLimit === -1) return `${sql}\nLIMIT ${maxRows}`;

  const rest = code.slice(topLevelLimit + 1);
  let count: SqlToken | undefined;
  if (rest.length === 1 && isInteger(rest[0])) {
    count = rest[0];
  } else if (rest.length === 3 && isInteger(rest[0]) && rest[1]?.text === ',' && isInteger(rest[2])) {
    count = rest[2];
  } else if (rest.length === 3 && isInteger(rest[0]) && isWord(rest[1], 'OFFSET') && isInteger(rest[2])) {
    count = rest[0];
  }
  if (count === undefined) {
    return `SELECT * FROM (\n${sql}\n) AS ${CAP_ALIAS} LIMIT ${maxRows}`;
  }
  if (BigInt(count.text) <= BigInt(maxRows)) return sql;
  return `${sql.slice(0, count.start)}${maxRows}${sql.slice(count.end)}`;
}
