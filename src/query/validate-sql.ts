/**
 * Read-only SQL validator (docs/rest.md, POST /api/query: one safe SELECT).
 *
 * Owns the decision whether a user's SQL text may run: exactly one SELECT
 * (WITH, UNION/INTERSECT/EXCEPT, joins, subqueries, window functions are
 * fine) that reads only unqualified tables and calls no function with side
 * effects or server access. It is pure: no I/O, no knowledge of which
 * families exist (an unknown family is the router's 404, not ours).
 *
 * How it stays fail-closed:
 * 1. A small lexer that follows the server's rules (strings with backslash
 *    escapes, backticks, `#`, `-- `, `/* *\/` comments) finds stacked
 *    statements, executable comments (`/*! *\/`, `/*M! *\/`) and optimizer
 *    hints (`/*+ *\/`), and refuses text where it and the parser could
 *    disagree (`--` not followed by a space is arithmetic for the server but a
 *    comment for node-sql-parser, so `SELECT 1 --SLEEP(9)` would hide a call).
 * 2. The parser only ever sees the text with every comment blanked out (same
 *    length, so offsets stay valid): it parses exactly the code the server
 *    will run.
 * 3. The AST is walked in full and every node must be on an allowlist;
 *    anything unknown is refused with a message naming it.
 *
 * 4. Cost is bounded before the parser runs: at most `maxLength` characters
 *    (query_max_length) and `maxTokens` code tokens (query_max_tokens); the
 *    parser and the walk are recursive, so a text nested past the stack
 *    (a RangeError) is answered QUERY_TOO_COMPLEX too, never a 500.
 *
 * It must not re-serialise the AST: the caller runs the user's own text.
 * Assumption about the session: `sql_mode` contains neither ANSI_QUOTES nor
 * NO_BACKSLASH_ESCAPES (the lexer reads quotes and backslashes as the server
 * does by default).
 */
import { sqlParser, type SqlDialect } from './sql-parser.js';
import { AppError } from '../errors/app-error.js';

/** A SELECT that passed validation. */
export interface ValidatedQuery {
  /**
   * The statement as the user wrote it: leading whitespace removed, trailing
   * whitespace, comments and semicolons removed; otherwise byte-identical.
   */
  sql: string;
  /**
   * Distinct base tables the statement reads (family names or `raw_logs`),
   * without CTE names or derived-table aliases, in order of first appearance.
   * Names are as written (backtick quotes removed), not case-folded.
   */
  tables: string[];
  /** node-sql-parser's AST of the statement (for planners that need the shape; never re-serialised). */
  ast?: unknown;
  /**
   * The statement's code tokens as the lexer found them, offsets into the
   * text before `sql` was trimmed (`sql` starts at `start`): the row cap
   * reads them instead of tokenizing the text again. Absent on a query
   * built by hand.
   */
  lexed?: Pick<LexedStatement, 'code' | 'start'>;
}

/** Longest SQL text accepted by default, in UTF-16 code units (query_max_length's default). */
export const MAX_SQL_LENGTH = 100_000;

/** Most code tokens accepted by default (query_max_tokens's default). */
export const DEFAULT_MAX_TOKENS = 5000;

/** Bounds on the SQL text, checked before parsing (config.limits). */
export interface SqlLimits {
  /** Longest text, characters (UTF-16 code units); default {@link MAX_SQL_LENGTH}. */
  maxLength?: number;
  /** Most code tokens (not spaces or comments); default {@link DEFAULT_MAX_TOKENS}. */
  maxTokens?: number;
}

/** Kind of a lexical token. */
export type SqlTokenKind = 'space' | 'comment' | 'string' | 'quoted_ident' | 'word' | 'punct';

/** One lexical token: `text` is `sql.slice(start, end)`. */
export interface SqlToken {
  kind: SqlTokenKind;
  start: number;
  end: number;
  text: string;
}

const WHITESPACE = new Set([' ', '\t', '\n', '\r', '\v', '\f']);

function isWordChar(ch: string): boolean {
  const code = ch.charCodeAt(0);
  return (
    (code >= 0x30 && code <= 0x39) ||
    (code >= 0x41 && code <= 0x5a) ||
    (code >= 0x61 && code <= 0x7a) ||
    ch === '_' ||
    ch === '$' ||
    code >= 0x80
  );
}

function notReadOnly(message: string, details: Record<string, unknown>): AppError {
  return new AppError('QUERY_NOT_READ_ONLY', message, details);
}

function parseFailed(message: string, details: Record<string, unknown> = {}): AppError {
  return new AppError('QUERY_PARSE_FAILED', message, details);
}

function tooComplex(message: string, details: Record<string, unknown>): AppError {
  return new AppError('QUERY_TOO_COMPLEX', message, details);
}

/** The answer to a parser or walker stack overflow: the nesting, not a 500. */
function tooDeep(): AppError {
  return tooComplex(
    'the query is nested or chained too deeply to analyse (parentheses, function calls, subqueries, UNION arms or operators); simplify it, for example split a long UNION or OR chain into several queries or use IN (...)',
    { reason: 'too_deep' },
  );
}

/**
 * Splits SQL text into tokens the way MySQL/MariaDB do (default sql_mode).
 *
 * Throws QUERY_PARSE_FAILED for an unterminated string, identifier or
 * comment, and QUERY_NOT_READ_ONLY for executable comments (`/*!`, `/*M!`),
 * optimizer hints (`/*+`) and a `--` that is not followed by whitespace
 * (ambiguous between the server and the parser).
 *
 * Example: `SELECT 'a;b' -- x` gives word `SELECT`, space, string `'a;b'`,
 * space, comment `-- x`.
 */
export function tokenizeSql(sql: string): SqlToken[] {
  const tokens: SqlToken[] = [];
  const n = sql.length;
  let i = 0;
  const push = (kind: SqlTokenKind, start: number, end: number): void => {
    tokens.push({ kind, start, end, text: sql.slice(start, end) });
  };
  while (i < n) {
    const start = i;
    const ch = sql.charAt(i);
    const next = i + 1 < n ? sql.charAt(i + 1) : '';
    if (WHITESPACE.has(ch)) {
      while (i < n && WHITESPACE.has(sql.charAt(i))) i++;
      push('space', start, i);
    } else if (ch === '#' || (ch === '-' && next === '-')) {
      if (ch === '-') {
        const after = i + 2 < n ? sql.charCodeAt(i + 2) : -1;
        // The server starts a comment at "--" only when a space or control
        // character follows; otherwise "1--1" is arithmetic. The parser treats
        // any "--" as a comment, so such text is refused rather than guessed.
        if (after !== -1 && after > 0x20) {
          throw notReadOnly(
            `"--" at offset ${i} is not followed by a space: the server reads it as two minus signs but it looks like a comment; write "-- " to start a comment or "- -" to negate`,
            { reason: 'ambiguous_double_dash', offset: i },
          );
        }
      }
      const nl = sql.indexOf('\n', i);
      i = nl === -1 ? n : nl;
      push('comment', start, i);
    } else if (ch === '/' && next === '*') {
      const third = sql.charAt(i + 2);
      const fourth = sql.charAt(i + 3);
      if (third === '!' || third === '+' || ((third === 'M' || third === 'm') && fourth === '!')) {
        const kind = third === '+' ? 'optimizer hint' : 'executable comment';
        throw notReadOnly(
          `${kind} "${sql.slice(i, i + 3 + (third === '!' || third === '+' ? 0 : 1))}" at offset ${i} is not allowed in queries: the server would run its content; remove it`,
          { reason: third === '+' ? 'optimizer_hint' : 'executable_comment', offset: i },
        );
      }
      const close = sql.indexOf('*/', i + 2);
      if (close === -1) {
        throw parseFailed(
          `unterminated comment starting at offset ${i}; close it with "*/" or remove it, and check the syntax`,
          { reason: 'unterminated_comment', offset: i },
        );
      }
      i = close + 2;
      push('comment', start, i);
    } else if (ch === "'" || ch === '"' || ch === '`') {
      i++;
      let closed = false;
      while (i < n) {
        const c = sql.charAt(i);
        if (c === '\\' && ch !== '`') {
          i += 2;
          continue;
        }
        if (c === ch) {
          if (sql.charAt(i + 1) === ch) {
            i += 2;
            continue;
          }
          i++;
          closed = true;
          break;
        }
        i++;
      }
      if (!closed) {
        const what = ch === '`' ? 'quoted identifier' : 'string';
        throw parseFailed(
          `unterminated ${what} starting at offset ${start}; close it with ${ch} and check the syntax`,
          { reason: 'unterminated_quote', offset: start },
        );
      }
      push(ch === '`' ? 'quoted_ident' : 'string', start, Math.min(i, n));
    } else if (isWordChar(ch)) {
      while (i < n && isWordChar(sql.charAt(i))) i++;
      push('word', start, i);
    } else {
      i++;
      push('punct', start, i);
    }
  }
  return tokens;
}

/** True for tokens the server executes (not whitespace or comments). */
export function isCodeToken(token: SqlToken): boolean {
  return token.kind !== 'space' && token.kind !== 'comment';
}

/** Side-effect or server-access functions refused anywhere in a query (upper case). */
const FORBIDDEN_FUNCTIONS = new Set([
  'SLEEP',
  'BENCHMARK',
  'LOAD_FILE',
  'GET_LOCK',
  'RELEASE_LOCK',
  'RELEASE_ALL_LOCKS',
  'IS_FREE_LOCK',
  'IS_USED_LOCK',
  'MASTER_POS_WAIT',
  'SOURCE_POS_WAIT',
  'MASTER_GTID_WAIT',
  'WAIT_FOR_EXECUTED_GTID_SET',
  'WAIT_UNTIL_SQL_THREAD_AFTER_GTIDS',
  'WSREP_SYNC_WAIT_UPTO_GTID',
  'NEXTVAL',
  'SETVAL',
  'LASTVAL',
  'SYS_EXEC',
  'SYS_EVAL',
  'SYS_GET',
  'SYS_SET',
]);

/**
 * Functions that reveal the server or the session rather than the data
 * (upper case), refused anywhere in a query like `@@version` is. Kin are
 * listed together:
 * - the session's account: USER, CURRENT_USER, SESSION_USER, SYSTEM_USER,
 *   CURRENT_ROLE (CURRENT_USER and CURRENT_ROLE also without parentheses);
 * - the server and the connection: VERSION, CONNECTION_ID, DATABASE, SCHEMA,
 *   PS_CURRENT_THREAD_ID, PS_THREAD_ID, ICU_VERSION, ROLES_GRAPHML;
 * - the session's previous statements: LAST_INSERT_ID, ROW_COUNT,
 *   FOUND_ROWS;
 * - values derived from the server's identity: UUID_SHORT (server id and
 *   start time), UUID and SYS_GUID (version 1: host address and time);
 * - replication state: BINLOG_GTID_POS, WSREP_LAST_SEEN_GTID,
 *   WSREP_LAST_WRITTEN_GTID;
 * - server-side keys: DES_ENCRYPT and DES_DECRYPT (the key file).
 */
const SERVER_INFORMATION_FUNCTIONS = new Set([
  'USER',
  'CURRENT_USER',
  'SESSION_USER',
  'SYSTEM_USER',
  'CURRENT_ROLE',
  'VERSION',
  'CONNECTION_ID',
  'DATABASE',
  'SCHEMA',
  'PS_CURRENT_THREAD_ID',
  'PS_THREAD_ID',
  'ICU_VERSION',
  'ROLES_GRAPHML',
  'LAST_INSERT_ID',
  'ROW_COUNT',
  'FOUND_ROWS',
  'UUID_SHORT',
  'UUID',
  'SYS_GUID',
  'BINLOG_GTID_POS',
  'WSREP_LAST_SEEN_GTID',
  'WSREP_LAST_WRITTEN_GTID',
  'DES_ENCRYPT',
  'DES_DECRYPT',
]);

/** Server-information functions the server also calls without parentheses (SQL keywords). */
const BARE_INFORMATION_KEYWORDS = new Set(['CURRENT_USER', 'CURRENT_ROLE']);

function serverInformation(name: string): AppError {
  return notReadOnly(
    `function ${name} is not allowed in queries: it reveals the server or the session (account, version, connection, previous statements), not your data; remove it`,
    { reason: 'server_information', function: name },
  );
}

/**
 * Words that begin a statement other than SELECT: a query starting with one
 * is refused as not read-only; any other leading word is a syntax error.
 */
const STATEMENT_KEYWORDS = new Set([
  'ALTER', 'ANALYZE', 'BACKUP', 'BEGIN', 'BINLOG', 'CACHE', 'CALL', 'CHANGE', 'CHECK', 'CHECKSUM', 'COMMIT',
  'CREATE', 'DEALLOCATE', 'DECLARE', 'DELETE', 'DESC', 'DESCRIBE', 'DO', 'DROP', 'EXECUTE', 'EXPLAIN', 'FLUSH',
  'GET', 'GRANT', 'HANDLER', 'HELP', 'IMPORT', 'INSERT', 'INSTALL', 'KILL', 'LOAD', 'LOCK', 'OPTIMIZE', 'PREPARE',
  'PURGE', 'RELEASE', 'RENAME', 'REPAIR', 'REPLACE', 'RESET', 'RESIGNAL', 'RESTART', 'REVOKE', 'ROLLBACK',
  'SAVEPOINT', 'SET', 'SHOW', 'SHUTDOWN', 'SIGNAL', 'START', 'STOP', 'TABLE', 'TRUNCATE', 'UNINSTALL', 'UNLOCK',
  'UPDATE', 'USE', 'VALUES', 'XA',
]);

/** Leaf literal node types that carry no code. */
const LITERAL_TYPES = new Set([
  'number',
  'bigint',
  'string',
  'single_quote_string',
  'double_quote_string',
  'natural_string',
  'hex_string',
  'full_hex_string',
  'bit_string',
  'bool',
  'boolean',
  'null',
  'star',
  'date',
  'time',
  'datetime',
  'timestamp',
  'origin',
  'default',
  'datatype',
  'collate',
  'ESCAPE',
]);

/** Select keys that hold nothing dangerous when null/empty, checked one by one below. */
const SELECT_KEYS = new Set([
  'with',
  'type',
  'options',
  'distinct',
  'columns',
  'into',
  'from',
  'where',
  'groupby',
  'having',
  'orderby',
  'limit',
  'locking_read',
  'window',
  'collate',
  'loc',
  '_next',
  'set_op',
  'parentheses_symbol',
  '_parentheses',
  '_orderby',
  '_limit',
]);

const SET_OPS = new Set([
  'union',
  'union all',
  'union distinct',
  'intersect',
  'intersect all',
  'intersect distinct',
  'except',
  'except all',
  'except distinct',
  'minus',
]);

const SELECT_OPTIONS = new Set([
  'SQL_NO_CACHE',
  'SQL_CACHE',
  'SQL_CALC_FOUND_ROWS',
  'SQL_SMALL_RESULT',
  'SQL_BIG_RESULT',
  'SQL_BUFFER_RESULT',
  'STRAIGHT_JOIN',
  'HIGH_PRIORITY',
  'DISTINCT',
  'DISTINCTROW',
  'ALL',
]);

type Node = Record<string, unknown>;

function isNode(value: unknown): value is Node {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function isEmpty(value: unknown): boolean {
  if (value === null || value === undefined) return true;
  if (Array.isArray(value)) return value.length === 0;
  if (isNode(value)) return Object.values(value).every((v) => v === null || v === undefined);
  return false;
}

function unsupported(construct: string): AppError {
  return notReadOnly(
    `${construct} is not supported in queries; only plain SELECT statements over family tables and raw_logs can run`,
    { reason: 'unsupported_construct', construct },
  );
}

/** Walks one AST, collecting base tables; throws on anything not allowlisted. */
class AstWalker {
  readonly tables: string[] = [];
  private readonly seen = new Set<string>();

  /** Walks a select (or set-operation chain) with the CTE names in scope. */
  select(node: unknown, cteNames: ReadonlySet<string>): void {
    if (!isNode(node) || node.type !== 'select') {
      const type = isNode(node) && typeof node.type === 'string' ? node.type.toUpperCase() : 'statement';
      throw notReadOnly(
        `${type} statements are not allowed: only a single SELECT (optionally with WITH, UNION and subqueries) can run`,
        { reason: 'not_select', statement: type },
      );
    }
    for (const [key, value] of Object.entries(node)) {
      if (!SELECT_KEYS.has(key) && !isEmpty(value)) throw unsupported(`SELECT clause "${key}"`);
    }
    const scope = new Set(cteNames);
    if (Array.isArray(node.with)) {
      for (const cte of node.with) {
        if (!isNode(cte)) throw unsupported('WITH clause');
        const name = isNode(cte.name) ? cte.name.value : cte.name;
        if (typeof name !== 'string') throw unsupported('WITH clause');
        const recursive = cte.recursive === true;
        for (const [key, value] of Object.entries(cte)) {
          if (!['name', 'stmt', 'columns', 'recursive', 'loc'].includes(key) && !isEmpty(value)) {
            throw unsupported(`WITH option "${key}"`);
          }
        }
        // A CTE's own name is in scope inside its body only for WITH RECURSIVE;
        // otherwise `WITH t AS (SELECT * FROM t)` reads the real table t.
        if (recursive) scope.add(name.toLowerCase());
        this.subquery(cte.stmt, scope);
        scope.add(name.toLowerCase());
      }
    } else if (!isEmpty(node.with)) {
      throw unsupported('WITH clause');
    }
    if (Array.isArray(node.options)) {
      for (const option of node.options) {
        if (typeof option !== 'string' || !SELECT_OPTIONS.has(option.toUpperCase())) {
          throw unsupported(`SELECT option ${JSON.stringify(option)}`);
        }
      }
    } else if (!isEmpty(node.options)) {
      throw unsupported('SELECT options');
    }
    if (!isEmpty(node.distinct)) {
      const distinct = isNode(node.distinct) ? node.distinct.type : node.distinct;
      if (typeof distinct !== 'string' || !['DISTINCT', 'ALL', 'DISTINCTROW'].includes(distinct.toUpperCase())) {
        throw unsupported('DISTINCT form');
      }
    }
    if (isNode(node.into) && (!isEmpty(node.into.type) || !isEmpty(node.into.keyword) || !isEmpty(node.into.expr))) {
      const target = typeof node.into.keyword === 'string' ? node.into.keyword.toUpperCase() : 'INTO';
      throw notReadOnly(
        `SELECT ... INTO ${target === 'VAR' ? 'a variable' : target} is not allowed in queries: results are returned to you, not written; remove the INTO clause`,
        { reason: 'into', target },
      );
    }
    if (!isEmpty(node.locking_read)) {
      const locking = typeof node.locking_read === 'string' ? node.locking_read : 'locking read';
      throw notReadOnly(`${locking.toUpperCase()} is not allowed in queries: they are read-only and take no locks; remove it`, {
        reason: 'locking_read',
        clause: locking.toUpperCase(),
      });
    }
    if (!isEmpty(node.collate) && !isNode(node.collate)) throw unsupported('SELECT COLLATE');
    if (!isEmpty(node.set_op) && (typeof node.set_op !== 'string' || !SET_OPS.has(node.set_op.toLowerCase()))) {
      throw unsupported(`set operation ${JSON.stringify(node.set_op)}`);
    }
    // Clauses are walked in text order so `tables` lists first appearances.
    this.columns(node.columns, scope);
    this.from(node.from, scope);
    this.expr(node.where, scope);
    if (isNode(node.groupby)) {
      for (const [key, value] of Object.entries(node.groupby)) {
        if (key === 'columns') this.exprList(value, scope);
        else if (key === 'modifiers') this.exprList(value, scope);
        else if (!isEmpty(value)) throw unsupported(`GROUP BY option "${key}"`);
      }
    } else if (Array.isArray(node.groupby)) {
      this.exprList(node.groupby, scope);
    } else if (!isEmpty(node.groupby)) {
      throw unsupported('GROUP BY form');
    }
    this.expr(node.having, scope);
    this.window(node.window, scope);
    this.orderBy(node.orderby, scope);
    this.orderBy(node._orderby, scope);
    this.limit(node.limit, scope);
    this.limit(node._limit, scope);
    if (!isEmpty(node._next)) this.select(node._next, scope);
  }

  private subquery(node: unknown, scope: ReadonlySet<string>): void {
    // Subqueries appear as { tableList, columnList, ast } or as a bare select.
    if (isNode(node) && 'ast' in node) this.select(node.ast, scope);
    else this.select(node, scope);
  }

  private addTable(name: string): void {
    if (!this.seen.has(name)) {
      this.seen.add(name);
      this.tables.push(name);
    }
  }

  private columns(columns: unknown, scope: ReadonlySet<string>): void {
    if (columns === '*' || isEmpty(columns)) return;
    if (!Array.isArray(columns)) throw unsupported('select list');
    for (const column of columns) {
      if (!isNode(column)) throw unsupported('select list item');
      for (const [key, value] of Object.entries(column)) {
        if (key === 'expr') this.expr(value, scope);
        else if (key !== 'as' && key !== 'loc' && key !== 'type' && !isEmpty(value)) {
          throw unsupported(`select list option "${key}"`);
        }
      }
    }
  }

  private from(from: unknown, scope: ReadonlySet<string>): void {
    if (isEmpty(from)) return;
    const items = Array.isArray(from) ? from : [from];
    for (const item of items) {
      if (!isNode(item)) throw unsupported('FROM item');
      if (item.type === 'dual') continue;
      for (const [key, value] of Object.entries(item)) {
        if (!['db', 'table', 'as', 'loc', 'join', 'on', 'using', 'expr', 'parentheses', 'prefix', 'schema'].includes(key) && !isEmpty(value)) {
          throw unsupported(`FROM option "${key}"`);
        }
      }
      if (!isEmpty(item.prefix) && !(typeof item.prefix === 'string' && item.prefix.toUpperCase() === 'LATERAL')) {
        throw unsupported(`FROM prefix ${JSON.stringify(item.prefix)}`);
      }
      if (!isEmpty(item.join)) {
        if (typeof item.join !== 'string' || !/^(NATURAL )?((INNER|CROSS|LEFT( OUTER)?|RIGHT( OUTER)?|FULL( OUTER)?) )?JOIN$|^STRAIGHT_JOIN$/i.test(item.join)) {
          throw unsupported(`join ${JSON.stringify(item.join)}`);
        }
      }
      if (typeof item.table === 'string') {
        if (!isEmpty(item.db) || !isEmpty(item.schema)) {
          const db = String(isNode(item.db) ? JSON.stringify(item.db) : (item.db ?? item.schema));
          throw new AppError(
            'QUERY_TABLE_FORBIDDEN',
            `table "${db}.${item.table}" names a database: name tables without a database (for example "${item.table}"), because each family lives on its own shard and other schemas cannot be queried`,
            { reason: 'qualified_table', table: `${db}.${item.table}` },
          );
        }
        if (!isEmpty(item.expr)) throw unsupported('table expression');
        if (!scope.has(item.table.toLowerCase())) this.addTable(item.table);
      } else if (!isEmpty(item.expr)) {
        const expr = item.expr;
        if (isNode(expr) && ('ast' in expr || expr.type === 'select')) {
          this.subquery(expr, scope);
        } else {
          throw new AppError(
            'QUERY_TABLE_FORBIDDEN',
            'table functions and table-valued expressions are not allowed in FROM; read from family tables or raw_logs (use JSON_EXTRACT on raw_logs.log for JSON)',
            { reason: 'table_function' },
          );
        }
      } else {
        throw unsupported('FROM item');
      }
      this.expr(item.on, scope);
      if (Array.isArray(item.using)) this.exprList(item.using, scope);
      else if (!isEmpty(item.using)) throw unsupported('JOIN USING form');
    }
  }

  private orderBy(orderby: unknown, scope: ReadonlySet<string>): void {
    if (isEmpty(orderby)) return;
    if (!Array.isArray(orderby)) throw unsupported('ORDER BY form');
    for (const item of orderby) {
      if (!isNode(item)) throw unsupported('ORDER BY item');
      for (const [key, value] of Object.entries(item)) {
        if (key === 'expr') this.expr(value, scope);
        else if (key === 'type') {
          if (value !== null && value !== undefined && !(typeof value === 'string' && /^(ASC|DESC)$/i.test(value))) {
            throw unsupported('ORDER BY direction');
          }
        } else if (key !== 'loc' && key !== 'nulls' && !isEmpty(value)) throw unsupported(`ORDER BY option "${key}"`);
      }
    }
  }

  private limit(limit: unknown, scope: ReadonlySet<string>): void {
    if (isEmpty(limit)) return;
    if (!isNode(limit)) throw unsupported('LIMIT form');
    this.exprList(limit.value, scope);
  }

  private window(window: unknown, scope: ReadonlySet<string>): void {
    if (isEmpty(window)) return;
    if (!isNode(window) || !Array.isArray(window.expr)) throw unsupported('WINDOW clause');
    for (const named of window.expr) this.structure(named, scope);
  }

  private exprList(list: unknown, scope: ReadonlySet<string>): void {
    if (isEmpty(list)) return;
    if (!Array.isArray(list)) throw unsupported('expression list');
    for (const item of list) this.expr(item, scope);
  }

  /** Walks an untyped wrapper object (window specs, args of aggregates, ...). */
  private structure(value: unknown, scope: ReadonlySet<string>): void {
    if (value === null || value === undefined) return;
    if (Array.isArray(value)) {
      for (const item of value) this.structure(item, scope);
      return;
    }
    if (!isNode(value)) return; // strings, numbers, booleans: keywords and literal payloads
    if (typeof value.type === 'string' || 'ast' in value) {
      this.expr(value, scope);
      return;
    }
    for (const [key, child] of Object.entries(value)) {
      if (key === 'orderby') this.orderBy(child, scope);
      else if (key !== 'loc') this.structure(child, scope);
    }
  }

  /** Walks one expression node; every typed node must be on the allowlist. */
  expr(node: unknown, scope: ReadonlySet<string>): void {
    if (node === null || node === undefined) return;
    if (Array.isArray(node)) {
      for (const item of node) this.expr(item, scope);
      return;
    }
    if (!isNode(node)) return;
    if ('ast' in node) {
      this.subquery(node, scope);
      return;
    }
    const type = node.type;
    if (typeof type !== 'string') {
      this.structure(node, scope);
      return;
    }
    if (LITERAL_TYPES.has(type)) {
      this.children(node, ['value', 'escape', 'collate'], scope);
      return;
    }
    switch (type) {
      case 'select':
        this.select(node, scope);
        return;
      case 'column_ref':
        if (isNode(node.column)) this.structure(node.column, scope);
        this.children(node, ['collate', 'options'], scope);
        return;
      case 'binary_expr':
      case 'unary_expr':
        this.children(node, ['left', 'right', 'expr', 'escape'], scope);
        return;
      case 'expr_list':
        this.exprList(node.value, scope);
        return;
      case 'case':
        this.expr(node.expr, scope);
        for (const arm of Array.isArray(node.args) ? node.args : []) {
          if (!isNode(arm) || (arm.type !== 'when' && arm.type !== 'else')) throw unsupported('CASE arm');
          this.expr(arm.cond, scope);
          this.expr(arm.result, scope);
        }
        return;
      case 'cast':
      case 'convert':
      case 'interval':
      case 'extract':
      case 'fulltext_search':
      case 'window':
      case 'when':
      case 'else':
        this.children(node, null, scope);
        return;
      case 'aggr_func':
        this.checkFunctionName(node.name, node.args);
        this.children(node, null, scope);
        return;
      case 'function':
        this.checkFunctionName(node.name, node.args);
        for (const [key, value] of Object.entries(node)) {
          if (key === 'orderby') this.orderBy(value, scope);
          else if (key !== 'name' && key !== 'type' && key !== 'loc') this.structure(value, scope);
        }
        return;
      case 'var':
        throw this.variableError(node);
      case 'assign':
        throw notReadOnly(
          'variable assignment (":=") is not allowed in queries: they are read-only; compute the value in the SELECT list instead',
          { reason: 'assignment' },
        );
      case 'param':
        throw notReadOnly('placeholders ("?" or ":name") are not supported; write the values into the query', {
          reason: 'placeholder',
        });
      default:
        throw unsupported(`expression of type "${type}"`);
    }
  }

  /** Walks the given keys (or all keys except name/type/loc) as structures. */
  private children(node: Node, keys: readonly string[] | null, scope: ReadonlySet<string>): void {
    for (const [key, value] of Object.entries(node)) {
      if (key === 'type' || key === 'loc') continue;
      if (keys !== null && !keys.includes(key)) continue;
      if (key === 'orderby') this.orderBy(value, scope);
      else this.structure(value, scope);
    }
  }

  private variableError(node: Node): AppError {
    const prefix = typeof node.prefix === 'string' ? node.prefix : '@';
    const members = Array.isArray(node.members) ? node.members.map(String) : [];
    const name = `${prefix}${[String(node.name), ...members].join('.')}`;
    if (prefix === '@@') {
      return notReadOnly(`system variable ${name} is not allowed in queries: server settings are not readable through the query API`, {
        reason: 'system_variable',
        variable: name,
      });
    }
    return notReadOnly(`variable ${name} is not allowed in queries; write the value into the query instead`, {
      reason: 'user_variable',
      variable: name,
    });
  }

  private checkFunctionName(nameNode: unknown, args: unknown): void {
    let name: string;
    if (typeof nameNode === 'string') {
      name = nameNode;
    } else if (isNode(nameNode) && Array.isArray(nameNode.name)) {
      if (!isEmpty(nameNode.schema)) {
        const schema = isNode(nameNode.schema) ? String(nameNode.schema.value) : String(nameNode.schema);
        const qualified = `${schema}.${nameNode.name.map((p: unknown) => (isNode(p) ? String(p.value) : String(p))).join('.')}`;
        throw notReadOnly(`function ${qualified} is not allowed: call built-in functions without a database name`, {
          reason: 'qualified_function',
          function: qualified,
        });
      }
      name = nameNode.name.map((p: unknown) => (isNode(p) ? String(p.value) : String(p))).join('.');
    } else {
      throw unsupported('function call');
    }
    const upper = name.toUpperCase();
    const argCount = isNode(args) && Array.isArray(args.value) ? args.value.length : isEmpty(args) ? 0 : 1;
    if (FORBIDDEN_FUNCTIONS.has(upper) || (upper === 'LAST_INSERT_ID' && argCount > 0)) {
      throw notReadOnly(
        `function ${upper}${upper === 'LAST_INSERT_ID' ? ' with an argument' : ''} is not allowed in queries: it has side effects or reaches outside the data; remove it`,
        { reason: 'forbidden_function', function: upper },
      );
    }
    if (SERVER_INFORMATION_FUNCTIONS.has(upper)) throw serverInformation(upper);
  }
}


type ParseResult = { ok: true; ast: unknown } | { ok: false; message: string; offset: number | null; tooDeep: boolean };

function tryParse(text: string, database: SqlDialect): ParseResult {
  try {
    return { ok: true, ast: sqlParser(database).astify(text, { database }) };
  } catch (error) {
    // The generated parser recurses per nesting level: past the stack it throws RangeError.
    if (error instanceof RangeError) return { ok: false, message: 'too deep', offset: null, tooDeep: true };
    const raw = error instanceof Error ? error.message : String(error);
    const message = raw.split('\n')[0]?.slice(0, 200) ?? 'syntax error';
    const location: unknown = isNode(error) ? error.location : undefined;
    const start = isNode(location) && isNode(location.start) ? location.start.offset : undefined;
    return { ok: false, message, offset: typeof start === 'number' ? start : null, tooDeep: false };
  }
}

function upperWord(token: SqlToken | undefined): string | null {
  return token !== undefined && token.kind === 'word' ? token.text.toUpperCase() : null;
}

/** Lexical checks that must hold whatever the parser makes of the text. */
function checkKeywords(code: readonly SqlToken[]): void {
  for (let k = 0; k < code.length; k++) {
    if (code[k]?.text === '?') {
      // node-sql-parser reads "?" as an opaque "origin" node; nothing binds it here.
      throw notReadOnly('placeholders ("?" or ":name") are not supported; write the values into the query', {
        reason: 'placeholder',
      });
    }
    const word = upperWord(code[k]);
    if (word === null) continue;
    // After a "." a reserved word is an identifier (t.`into` style), not a keyword.
    if (k > 0 && code[k - 1]?.text === '.') continue;
    const next = upperWord(code[k + 1]);
    if (word === 'INTO') {
      throw notReadOnly(
        'SELECT ... INTO is not allowed in queries: results are returned to you, not written to files or variables; remove the INTO clause',
        { reason: 'into' },
      );
    }
    if (word === 'PROCEDURE') {
      throw notReadOnly('SELECT ... PROCEDURE is not allowed in queries; remove the PROCEDURE clause', {
        reason: 'procedure',
      });
    }
    if ((word === 'FOR' && (next === 'UPDATE' || next === 'SHARE')) || (word === 'LOCK' && next === 'IN')) {
      const clause = word === 'FOR' ? `FOR ${next ?? ''}` : 'LOCK IN SHARE MODE';
      throw notReadOnly(`${clause} is not allowed in queries: they are read-only and take no locks; remove it`, {
        reason: 'locking_read',
        clause,
      });
    }
    if (BARE_INFORMATION_KEYWORDS.has(word)) throw serverInformation(word);
    if ((word === 'NEXT' || word === 'PREVIOUS') && next === 'VALUE') {
      throw notReadOnly(`${word} VALUE FOR is not allowed in queries: it advances a sequence; remove it`, {
        reason: 'forbidden_function',
        function: 'NEXTVAL',
      });
    }
  }
}

/**
 * Checks that `sql` is exactly one read-only SELECT over unqualified tables.
 *
 * Returns the statement to run (the user's text trimmed, trailing comments
 * and semicolons removed) and the base tables it reads. Throws AppError:
 * - BAD_USER_INPUT: not a string, empty (or only comments/semicolons), NUL
 *   characters;
 * - QUERY_TOO_COMPLEX: longer than `limits.maxLength` characters, more than
 *   `limits.maxTokens` code tokens, or nested past the parser's stack;
 * - QUERY_PARSE_FAILED: the text does not parse, or starts with a word that
 *   begins no statement (message carries the parser's reason and offset);
 * - QUERY_NOT_READ_ONLY: anything but one SELECT, INTO, locking reads,
 *   executable comments/hints, variables, forbidden functions, or any AST
 *   node not on the allowlist (details.reason, details.function, ...);
 * - QUERY_TABLE_FORBIDDEN: a database-qualified table or a table function.
 *
 * Example: `validateSql('select * from dog_registry; -- all')` gives
 * `{ sql: 'select * from dog_registry', tables: ['dog_registry'] }`.
 */
export function validateSql(sql: unknown, limits: SqlLimits = {}): ValidatedQuery {
  return analyseStatement(lexStatement(sql, limits));
}

/**
 * The lexical phase of {@link validateSql}: one statement's tokens, before
 * the parser runs. `sql` is the statement as it will run (trimmed);
 * `tokens` are all tokens of the user's text, `code` the statement's code
 * tokens (no trailing semicolons), and [start, end) the statement's span in
 * the user's text.
 */
export interface LexedStatement {
  sql: string;
  tokens: readonly SqlToken[];
  code: readonly SqlToken[];
  start: number;
  end: number;
}

/**
 * Every check of {@link validateSql} that needs no parser: type, length, NUL,
 * the lexer's refusals, the token limit, empty text, stacked statements, the
 * leading word and the keyword checks (INTO, locking reads, `?`, ...).
 * Throws the same errors validateSql does for those; cheap (one pass over
 * the text), so it runs for every query, cached verdict or not.
 */
export function lexStatement(sql: unknown, limits: SqlLimits = {}): LexedStatement {
  if (typeof sql !== 'string') {
    throw new AppError('BAD_USER_INPUT', 'query must be a string holding one SELECT statement', {
      field: 'query',
      type: sql === null ? 'null' : typeof sql,
    });
  }
  const maxLength = limits.maxLength ?? MAX_SQL_LENGTH;
  if (sql.length > maxLength) {
    throw tooComplex(
      `query is ${sql.length} characters long; the limit is ${maxLength} (query_max_length), so shorten it or split it into several queries`,
      { field: 'query', reason: 'too_long', length: sql.length, max: maxLength },
    );
  }
  if (sql.includes('\u0000')) {
    throw new AppError('BAD_USER_INPUT', 'query contains a NUL character; remove it', { field: 'query' });
  }
  const tokens = tokenizeSql(sql);
  const code = tokens.filter(isCodeToken);
  const maxTokens = limits.maxTokens ?? DEFAULT_MAX_TOKENS;
  if (code.length > maxTokens) {
    throw tooComplex(
      `query has ${code.length} SQL tokens (words, numbers, strings, operators); the limit is ${maxTokens} (query_max_tokens), so simplify it or split it into several queries`,
      { field: 'query', reason: 'too_many_tokens', tokens: code.length, max: maxTokens },
    );
  }
  // Drop trailing semicolons (comments and whitespace between them are not code).
  let last = code.length - 1;
  while (last >= 0 && code[last]?.text === ';') last--;
  const statement = code.slice(0, last + 1);
  const first = statement[0];
  const lastToken = statement[statement.length - 1];
  if (first === undefined || lastToken === undefined) {
    throw new AppError('BAD_USER_INPUT', 'query is empty; send one SELECT statement, for example "SELECT * FROM my_family"', {
      field: 'query',
      reason: 'empty',
    });
  }
  if (statement.some((t) => t.text === ';')) {
    throw notReadOnly('several statements are not allowed: send exactly one SELECT, without ";" between statements', {
      reason: 'multiple_statements',
    });
  }
  const start = tokens.find((t) => t.kind !== 'space')?.start ?? first.start;
  const trimmed = sql.slice(start, lastToken.end);

  const leading = upperWord(first);
  if (first.text !== '(' && leading !== 'SELECT' && leading !== 'WITH') {
    const what = leading ?? first.text;
    if (leading === null || !STATEMENT_KEYWORDS.has(leading)) {
      throw parseFailed(
        `could not parse the query at offset ${first.start}: "${what.slice(0, 40)}" begins no SQL statement; a query starts with SELECT or WITH. Check the SQL syntax (MySQL dialect).`,
        { reason: 'syntax', offset: first.start },
      );
    }
    throw notReadOnly(
      `${what} statements are not allowed: only a single SELECT (optionally with WITH, UNION and subqueries) can run`,
      { reason: 'not_select', statement: what },
    );
  }
  checkKeywords(statement);
  return { sql: trimmed, tokens, code: statement, start, end: lastToken.end };
}

/**
 * The expensive phase of {@link validateSql}: parses the statement (comments
 * blanked) and walks its AST against the allowlist. Throws
 * QUERY_PARSE_FAILED, QUERY_NOT_READ_ONLY, QUERY_TABLE_FORBIDDEN and
 * QUERY_TOO_COMPLEX (too deep) as validateSql documents.
 */
export function analyseStatement(lexed: LexedStatement): ValidatedQuery {
  const { tokens, start, sql: trimmed } = lexed;
  const statement = lexed.code;
  const lastEnd = lexed.end;
  // The parser sees the code only: comments blanked to spaces of equal length.
  let blanked = '';
  for (const token of tokens) {
    if (token.end <= start || token.start >= lastEnd) continue;
    blanked += token.kind === 'comment' ? ' '.repeat(token.end - token.start) : token.text;
  }

  let parsed = tryParse(blanked, 'MySQL');
  if (!parsed.ok && !parsed.tooDeep) {
    // MariaDB-only syntax: accept it when the MariaDB grammar parses it.
    const maria = tryParse(blanked, 'MariaDB');
    if (maria.ok) parsed = maria;
  }
  if (!parsed.ok && parsed.tooDeep) throw tooDeep();
  if (!parsed.ok) {
    if (statement.some((t, k) => upperWord(t) === 'JSON_TABLE' && statement[k + 1]?.text === '(')) {
      throw new AppError(
        'QUERY_TABLE_FORBIDDEN',
        'JSON_TABLE and other table functions are not supported; read from family tables or raw_logs and use JSON_EXTRACT on raw_logs.log',
        { reason: 'table_function', function: 'JSON_TABLE' },
      );
    }
    const where = parsed.offset === null ? '' : ` at offset ${parsed.offset}`;
    throw parseFailed(`could not parse the query${where}: ${parsed.message} Check the SQL syntax (MySQL dialect).`, {
      reason: 'syntax',
      ...(parsed.offset === null ? {} : { offset: parsed.offset }),
    });
  }
  const asts = Array.isArray(parsed.ast) ? parsed.ast : [parsed.ast];
  if (asts.length !== 1) {
    throw notReadOnly('several statements are not allowed: send exactly one SELECT', {
      reason: 'multiple_statements',
    });
  }
  const walker = new AstWalker();
  try {
    walker.select(asts[0], new Set());
  } catch (error) {
    if (error instanceof RangeError) throw tooDeep();
    throw error;
  }
  return { sql: trimmed, tables: walker.tables, ast: asts[0], lexed };
}
