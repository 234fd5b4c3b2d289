/**
 * Row cap for validated queries (README and docs/rest.md: results past query_max_rows are truncated).
 *
 * Owns one text transformation: make a validated SELECT return at most N
 * rows, and otherwise exactly its own rows. It edits the user's text at one
 * token (or appends a clause) and never re-serialises an AST, so what runs
 * is what the user wrote. Pure; it does not validate (call validateSql first).
 * Server messages about the capped text quote it ("... near '...' at line
 * N"); restateServerMessage/restateCapError put them back in terms of the
 * user's own SQL, so the cap never shows.
 */
import { AppError, isAppError } from '../errors/app-error.js';
import { isCodeToken, tokenizeSql, type SqlToken, type ValidatedQuery } from './validate-sql.js';

/** Alias of the derived table used when the cap has to wrap the query. */
export const CAP_ALIAS = 'databalancer_capped';

const INTEGER = /^[0-9]+$/;

/** What the cap puts before a query it wraps. */
const WRAP_PREFIX = 'SELECT * FROM (\n';

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
  // The lexer's tokens when validation kept them (offsets shifted by the trimmed leading whitespace), else a fresh pass.
  const shift = query.lexed?.start ?? 0;
  const code = query.lexed?.code ?? tokenizeSql(sql).filter(isCodeToken);
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
    return `${WRAP_PREFIX}${sql}\n) AS ${CAP_ALIAS} LIMIT ${maxRows}`;
  }
  if (BigInt(count.text) <= BigInt(maxRows)) return sql;
  return `${sql.slice(0, count.start - shift)}${maxRows}${sql.slice(count.end - shift)}`;
}

/** Longest snippet MySQL and MariaDB quote after "near" (`%-.80s`). */
const NEAR_SNIPPET_MAX = 80;

/**
 * Where the user's text sits in the capped text: capped [shift, from) is the
 * user's [0, from - shift); capped [from, to) was added (or replaced the
 * user's count digits, which start at user offset `replaced`); capped
 * [to, end) is the user's tail from `resume`.
 */
interface CapLayout {
  shift: number;
  from: number;
  to: number;
  replaced: number | null;
  resume: number;
}

function layoutOf(userSql: string, capped: string): CapLayout {
  if (capped.startsWith(userSql)) {
    return { shift: 0, from: userSql.length, to: capped.length, replaced: null, resume: userSql.length };
  }
  if (capped.startsWith(WRAP_PREFIX + userSql)) {
    const shift = WRAP_PREFIX.length;
    return { shift, from: shift + userSql.length, to: capped.length, replaced: null, resume: userSql.length };
  }
  // The count's digits replaced: a common prefix and suffix around them.
  let p = 0;
  while (p < userSql.length && p < capped.length && userSql[p] === capped[p]) p++;
  let q = 0;
  while (q < userSql.length - p && q < capped.length - p && userSql[userSql.length - 1 - q] === capped[capped.length - 1 - q]) q++;
  return { shift: 0, from: p, to: capped.length - q, replaced: p, resume: userSql.length - q };
}

/** The user offset of capped offset `at`, or null inside text the cap added. */
function userOffset(layout: CapLayout, at: number): number | null {
  if (at < layout.shift) return null;
  if (at < layout.from) return at - layout.shift;
  if (at < layout.to) return layout.replaced;
  return layout.replaced === null ? null : at - layout.to + layout.resume;
}

/**
 * Rewrites a server error message about `capped` (what ran) so that it
 * quotes `userSql` (what the user sent) only: the "near '<text>' at line N"
 * of a syntax error is re-cut from the user's text with the user's line
 * number, or says "at the end of the query" when it points into the text
 * the cap added. Other messages are returned unchanged.
 * Example: near '>>'$.a' FROM t\nLIMIT 10001' at line 1 -> near '>>'$.a' FROM t' at line 1.
 */
export function restateServerMessage(message: string, userSql: string, capped: string): string {
  const match = /near '([\s\S]*)' at line (\d+)$/.exec(message);
  if (match === null || capped === userSql) return message;
  const snippet = match[1] ?? '';
  const layout = layoutOf(userSql, capped);
  let lineStart = 0;
  for (let line = 1; line < Number(match[2]); line++) {
    const nl = capped.indexOf('\n', lineStart);
    if (nl === -1) return message;
    lineStart = nl + 1;
  }
  const at = snippet === '' ? capped.length : capped.indexOf(snippet, lineStart);
  if (at === -1) return message;
  const head = message.slice(0, match.index);
  const userAt = userOffset(layout, at);
  if (userAt === null) return `${head}at the end of the query`;
  const end = snippet.length >= NEAR_SNIPPET_MAX ? Math.min(userSql.length, userAt + NEAR_SNIPPET_MAX) : userSql.length;
  const userLine = userSql.slice(0, userAt).split('\n').length;
  return `${head}near '${userSql.slice(userAt, end)}' at line ${userLine}`;
}

/**
 * The same error with its message restated ({@link restateServerMessage})
 * when it is a QUERY_FAILED AppError about the capped text; anything else
 * unchanged.
 */
export function restateCapError(error: unknown, query: ValidatedQuery, capped: string): unknown {
  if (!isAppError(error) || error.code !== 'QUERY_FAILED') return error;
  const message = restateServerMessage(error.message, query.sql, capped);
  return message === error.message ? error : new AppError(error.code, message, error.details, error.cause);
}
