/**
 * Where each event of an ingest body's `logs` array sits in the body text, so
 * the raw_logs copy can be the sender's own JSON for that event: exact (a
 * number like 9007199254740993 or 1.10 stays as sent) and cheaper than
 * serialising the parsed event again. Only ever run on text that JSON.parse
 * has accepted; the caller falls back to JSON.stringify whenever the result
 * does not match the parsed body (different count). Pure: no I/O.
 */

/** Character codes the scanner tests. */
const QUOTE = 34;
const BACKSLASH = 92;
const COMMA = 44;
const COLON = 58;
const OPEN_BRACE = 123;
const CLOSE_BRACE = 125;
const OPEN_BRACKET = 91;
const CLOSE_BRACKET = 93;

function isSpace(code: number): boolean {
  return code === 32 || code === 10 || code === 13 || code === 9;
}

function skipSpace(text: string, i: number): number {
  while (i < text.length && isSpace(text.charCodeAt(i))) i++;
  return i;
}

/** Index just past the string literal whose opening quote is at `start`. */
function endOfString(text: string, start: number): number {
  let i = start + 1;
  for (;;) {
    const quote = text.indexOf('"', i);
    if (quote < 0) return text.length;
    // The quote is escaped when an odd number of backslashes precede it.
    let backslashes = 0;
    while (text.charCodeAt(quote - 1 - backslashes) === BACKSLASH) backslashes++;
    if (backslashes % 2 === 0) return quote + 1;
    i = quote + 1;
  }
}

/** Index just past the JSON value that starts at `start` (no leading space). */
function endOfValue(text: string, start: number): number {
  const first = text.charCodeAt(start);
  if (first === QUOTE) return endOfString(text, start);
  if (first !== OPEN_BRACE && first !== OPEN_BRACKET) {
    // A number, true, false or null: up to the next delimiter.
    let i = start;
    while (i < text.length) {
      const code = text.charCodeAt(i);
      if (code === COMMA || code === CLOSE_BRACE || code === CLOSE_BRACKET || isSpace(code)) break;
      i++;
    }
    return i;
  }
  let depth = 0;
  let i = start;
  while (i < text.length) {
    const code = text.charCodeAt(i);
    if (code === QUOTE) {
      i = endOfString(text, i);
      continue;
    }
    if (code === OPEN_BRACE || code === OPEN_BRACKET) depth++;
    else if (code === CLOSE_BRACE || code === CLOSE_BRACKET) {
      depth--;
      if (depth === 0) return i + 1;
    }
    i++;
  }
  return i;
}

/** [start, end) of every element of the array that starts at `start`. */
function elementSpans(text: string, start: number): number[] {
  const spans: number[] = [];
  let i = skipSpace(text, start + 1);
  if (text.charCodeAt(i) === CLOSE_BRACKET) return spans;
  while (i < text.length) {
    const end = endOfValue(text, i);
    spans.push(i, end);
    i = skipSpace(text, end);
    if (text.charCodeAt(i) !== COMMA) break;
    i = skipSpace(text, i + 1);
  }
  return spans;
}

/**
 * Start and end offsets (`[s0, e0, s1, e1, ...]`, ends exclusive) of the
 * elements of the top-level `"logs"` array of a JSON body, the last one when
 * the key repeats (as JSON.parse keeps the last); undefined when the body is
 * not an object or has no `logs` array.
 * @example eventSpans('{"family":"f","logs":[{"a":1}, {"b":"]"}]}') // => [22, 29, 31, 40]
 */
export function eventSpans(text: string): number[] | undefined {
  let i = skipSpace(text, 0);
  if (text.charCodeAt(i) !== OPEN_BRACE) return undefined;
  let found: number[] | undefined;
  i = skipSpace(text, i + 1);
  while (i < text.length && text.charCodeAt(i) === QUOTE) {
    const keyEnd = endOfString(text, i);
    const rawKey = text.slice(i, keyEnd);
    // A key written with escapes ("\u006cogs") is still "logs".
    const key = rawKey.includes('\\') ? (JSON.parse(rawKey) as string) : rawKey.slice(1, -1);
    i = skipSpace(text, keyEnd);
    if (text.charCodeAt(i) !== COLON) return undefined;
    i = skipSpace(text, i + 1);
    const valueEnd = endOfValue(text, i);
    if (key === 'logs') found = text.charCodeAt(i) === OPEN_BRACKET ? elementSpans(text, i) : undefined;
    i = skipSpace(text, valueEnd);
    if (text.charCodeAt(i) !== COMMA) break;
    i = skipSpace(text, i + 1);
  }
  return found;
}
