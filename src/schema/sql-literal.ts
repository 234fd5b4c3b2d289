/**
 * SQL literals for values the gateway writes itself (coerced event values and
 * raw JSON). Faster than a general escaper on the ingest hot path because a
 * single-quoted MySQL string only needs `\`, `'`, NUL, CR, LF and Ctrl-Z
 * escaped: `"` is an ordinary character there, and JSON text is full of it.
 * Valid as long as the session's sql_mode has no NO_BACKSLASH_ESCAPES, which
 * the gateway's pools never set (shard-pool.ts). Pure.
 * See https://dev.mysql.com/doc/refman/8.0/en/string-literals.html
 */
import type { SqlValue } from './coerce-value.js';

const NEEDS_ESCAPE = /[\0\n\r\x1a'\\]/;
const ESCAPES = /[\0\n\r\x1a'\\]/g;

function escapeChar(ch: string): string {
  switch (ch) {
    case '\0':
      return '\\0';
    case '\n':
      return '\\n';
    case '\r':
      return '\\r';
    case '\x1a':
      return '\\Z';
    case "'":
      return "\\'";
    default:
      return '\\\\';
  }
}

/**
 * A string as a single-quoted SQL literal.
 * Example: `it's "x"\` -> `'it\'s "x"\\'`.
 */
export function quoteString(text: string): string {
  return NEEDS_ESCAPE.test(text) ? `'${text.replace(ESCAPES, escapeChar)}'` : `'${text}'`;
}

/**
 * Any bound value as a SQL literal: NULL, TRUE/FALSE, a number's shortest
 * round-trip text, or a quoted string. Non-finite numbers cannot be written.
 * Example: [null, true, 1.5, "a'b"] -> NULL, TRUE, 1.5, 'a\'b'.
 */
export function sqlLiteral(value: SqlValue): string {
  if (value === null) return 'NULL';
  switch (typeof value) {
    case 'string':
      return quoteString(value);
    case 'number':
      if (!Number.isFinite(value)) throw new RangeError(`cannot write ${value} to SQL`);
      return String(value);
    case 'boolean':
      return value ? 'TRUE' : 'FALSE';
    default:
      throw new TypeError(`cannot write a ${typeof value} to SQL`);
  }
}
