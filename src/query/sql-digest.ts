/**
 * Query digests (as ProxySQL and Vitess normalise queries): the shape of a
 * lexed statement with its plain literals replaced by placeholders, so that
 * `... WHERE id = 7` and `... WHERE id = 8` share one digest and the
 * parser's verdict on one can answer for the other (query/validation-cache.ts).
 *
 * Owns the rule of which tokens count as replaceable literals. The rule is
 * conservative on purpose: a token is replaced only where no text of the same
 * digest could parse differently. Everything else (keywords, identifiers,
 * operators, double-quoted strings, hex/bit/date/charset-prefixed literals,
 * strings holding quotes or backslashes, numbers other than plain digits,
 * and the whitespace between tokens) is kept in the digest exactly. Pure.
 */
import type { LexedStatement, SqlToken } from './validate-sql.js';

/** One literal the digest replaced: its span in the statement text (`LexedStatement.sql`) and its class. */
export interface DigestSlot {
  kind: 'number' | 'string';
  /** Offsets in `LexedStatement.sql` (the statement text, not the user's whole text). */
  start: number;
  end: number;
}

/** The digest of a statement, and where its replaced literals were. */
export interface SqlDigest {
  /** Equal for two statements exactly when they differ at most in the replaced literals' values. */
  key: string;
  slots: DigestSlot[];
}

/** Operators and separators after which a plain literal is a value (never a name). */
const VALUE_PUNCT = new Set(['=', '<', '>', '!', '(', ',', '+', '-', '*', '/', '%', '~', '^', '&', '|']);

/**
 * Keywords after which a plain literal is a value (upper case). Words that
 * give the literal after them a meaning of its own (DATE, TIMESTAMP, X, B, N,
 * `_charset` introducers, COLLATE, ESCAPE, AS, FROM, JOIN, ...) are absent,
 * so a literal after them stays in the digest.
 */
const VALUE_KEYWORDS = new Set([
  'SELECT', 'WHERE', 'AND', 'OR', 'NOT', 'XOR', 'BETWEEN', 'LIKE', 'REGEXP', 'RLIKE',
  'LIMIT', 'OFFSET', 'THEN', 'ELSE', 'WHEN', 'HAVING', 'ON', 'DIV', 'MOD', 'INTERVAL', 'BY',
]);

const DIGITS = /^[0-9]+$/;

/** Single-quoted string content the parser reads one way only: no quote or backslash of any kind inside. */
const PLAIN_STRING = /^'[^'"`\\]*'$/;

/** Separates tokens in a key; lexStatement refuses NUL in queries, so no token holds one. */
const SEP = '\u0000';

function isValueContext(prev: SqlToken | undefined): boolean {
  if (prev === undefined) return false;
  if (prev.kind === 'punct') return VALUE_PUNCT.has(prev.text);
  return prev.kind === 'word' && VALUE_KEYWORDS.has(prev.text.toUpperCase());
}

/**
 * The gap before a code token as the parser sees it: the distinct
 * whitespace characters in it (a comment counts as a space, as the parser
 * gets it blanked), in a fixed order. Kept exactly because the parser does
 * not read every character the server calls whitespace as whitespace
 * (`\v` and `\f` fail to parse), and because "1.5" and "1 .5" differ.
 */
function gapOf(tokens: readonly SqlToken[], from: number, to: number): string {
  let chars = '';
  for (let k = from; k < to; k++) {
    const token = tokens[k] as SqlToken;
    const text = token.kind === 'comment' ? ' ' : token.text;
    for (const ch of text) if (!chars.includes(ch)) chars += ch;
  }
  return [...chars].sort().join('');
}

/**
 * Digests a lexed statement. A token is replaced by a placeholder when it is
 * - a number: a word of digits only (no sign, point, exponent or 0x/0b
 *   prefix; `-5` keeps its minus, `1.5` its point), or
 * - a string: single-quoted with no quote or backslash of any kind inside,
 * and in either case the code token before it is a value operator
 * (`=`, `(`, `,`, ...) or a value keyword (WHERE, AND, LIMIT, ...), and no
 * string or identifier is glued to its end. Every other token is kept with
 * its kind and exact text, and each gap between tokens by the whitespace
 * characters in it. IN lists of different lengths have different digests.
 *
 * Example: `SELECT * FROM t WHERE id = 42` and `SELECT * FROM t WHERE id = 7`
 * share a key; `... id = '42'`, `... id = 0x2A` and `...  id = 42` (two
 * spaces count as one, but a tab does not) do not.
 */
export function digestStatement(lexed: LexedStatement): SqlDigest {
  const { tokens, start, end } = lexed;
  const slots: DigestSlot[] = [];
  const parts: string[] = [];
  let gapFrom = -1;
  let prev: SqlToken | undefined;
  for (let k = 0; k < tokens.length; k++) {
    const token = tokens[k] as SqlToken;
    if (token.end <= start) continue;
    if (token.start >= end) break;
    if (token.kind === 'space' || token.kind === 'comment') {
      if (gapFrom < 0) gapFrom = k;
      continue;
    }
    const gap = gapFrom < 0 ? '' : gapOf(tokens, gapFrom, k);
    gapFrom = -1;
    const next = tokens[k + 1];
    const glued = next !== undefined && next.start < end && next.kind !== 'space' && next.kind !== 'comment' && next.kind !== 'punct';
    let literal: DigestSlot['kind'] | null = null;
    if (!glued && isValueContext(prev)) {
      if (token.kind === 'word' && DIGITS.test(token.text)) literal = 'number';
      else if (token.kind === 'string' && PLAIN_STRING.test(token.text)) literal = 'string';
    }
    if (literal !== null) {
      slots.push({ kind: literal, start: token.start - start, end: token.end - start });
      parts.push(`${gap}${literal === 'number' ? '#' : '$'}`);
    } else {
      parts.push(`${gap}${KIND_MARK[token.kind]}${token.text}`);
    }
    prev = token;
  }
  return { key: parts.join(SEP), slots };
}

/** One character per kind of kept token, so that no kept token reads as another kind or as a placeholder. */
const KIND_MARK: Record<SqlToken['kind'], string> = {
  word: 'w',
  punct: 'p',
  string: 's',
  quoted_ident: 'q',
  space: '',
  comment: '',
};

/**
 * `sql` (a statement's text) with every slot's literal replaced by another
 * value of its class: numbers by other digits, strings by another plain
 * string. The validation cache validates this probe beside the real text
 * and caches a verdict only when both agree (same tables), so a literal
 * whose value changes the verdict is never cached.
 */
export function probeText(sql: string, slots: readonly DigestSlot[]): string {
  let out = '';
  let at = 0;
  for (const slot of slots) {
    const original = sql.slice(slot.start, slot.end);
    const replacement = slot.kind === 'number' ? (original === '2' ? '3' : '2') : original === "'databalancer_probe'" ? "'probe'" : "'databalancer_probe'";
    out += sql.slice(at, slot.start) + replacement;
    at = slot.end;
  }
  return out + sql.slice(at);
}
