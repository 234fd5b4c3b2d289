/**
 * Where each event of an ingest body's `logs` array sits in the body text, so
 * the raw_logs copy can be the sender's own JSON for that event: exact (a
 * number like 9007199254740993 or 1.10 stays as sent) and cheaper than
 * serialising the parsed event again. The same pass refuses an object with
 * the same key twice, anywhere in the body: JSON.parse keeps the last value
 * (what the typed row stores) while the raw copy keeps the sender's text,
 * where MariaDB's JSON functions read the first, so an unvalidated value
 * would become queryable. Only ever run on text that JSON.parse has
 * accepted; the caller falls back to JSON.stringify whenever the result does
 * not match the parsed body (different count). Pure: no I/O. One linear pass,
 * iterative (no recursion, whatever the nesting).
 */
import { AppError } from '../errors/app-error.js';

/** Character codes the scanner tests. */
const QUOTE = 34;
const BACKSLASH = 92;
const COMMA = 44;
const COLON = 58;
const OPEN_BRACE = 123;
const CLOSE_BRACE = 125;
const OPEN_BRACKET = 91;
const CLOSE_BRACKET = 93;

/** Up to this many keys an object's keys are compared one by one; from then on through a Set. */
const LINEAR_KEYS = 16;

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

/** The key whose literal is text[start, end), decoded: a key written with escapes ("\u006e") is the same as "n". */
function keyAt(text: string, start: number, end: number): string {
  const key = text.slice(start + 1, end - 1);
  return key.includes('\\') ? (JSON.parse(text.slice(start, end)) as string) : key;
}

/** What hashRange answers for a range holding a backslash (an escape): not a hash (hashes are >= 0). */
const ESCAPED = -1;

/** FNV-1a over the UTF-16 code units of text[from, to); {@link ESCAPED} when `escapes` and the range holds a backslash. */
function hashRange(text: string, from: number, to: number, escapes = true): number {
  let h = 0x811c9dc5;
  for (let i = from; i < to; i++) {
    const code = text.charCodeAt(i);
    if (code === BACKSLASH && escapes) return ESCAPED;
    h = Math.imul(h ^ code, 0x01000193);
  }
  // 30 bits: a small integer for V8 (no heap number, no double array).
  return h & 0x3fffffff;
}

/** Shortens a key for messages and details. */
function shownKey(key: string): string {
  return key.length > 100 ? `${key.slice(0, 100)}...` : key;
}

/** Where a duplicate key was found, for the error. */
type Place = { event: number } | { member: string } | undefined;

function duplicateKey(key: string, place: Place): AppError {
  const shown = shownKey(key);
  const fix = 'JSON.parse keeps the last value while the raw copy would keep both; send each key once per object';
  if (place === undefined) {
    return new AppError('INVALID_JSON', `the request body has the key "${shown}" twice; ${fix}`, { key: shown });
  }
  if ('event' in place) {
    return new AppError('INVALID_JSON', `event ${place.event} in "logs" has the key "${shown}" twice in one object; ${fix}`, {
      index: place.event,
      key: shown,
    });
  }
  return new AppError('INVALID_JSON', `"${place.member}" in the request body has the key "${shown}" twice in one object; ${fix}`, {
    member: place.member,
    key: shown,
  });
}

/**
 * Keys seen per open object, kept as positions in the body text (no string
 * is made for a key without escapes) with a hash of their characters, and
 * reused from one object to the next at the same depth so that scanning
 * allocates little. A new key is compared with the earlier ones by hash
 * first (through a Set of hashes once an object has {@link LINEAR_KEYS}
 * keys), and character by character only when the hashes are equal.
 */
class KeyStack {
  /** Per depth: null for an array, else the object's keys. */
  private readonly frames: Array<KeyFrame | null> = [];
  private readonly spare: KeyFrame[] = [];
  depth = 0;

  constructor(private readonly text: string) {}

  open(isObject: boolean): void {
    const d = this.depth++;
    if (!isObject) {
      this.frames[d] = null;
      return;
    }
    const frame = this.spare[d] ?? new KeyFrame();
    this.spare[d] = frame;
    frame.reset();
    this.frames[d] = frame;
  }

  close(): void {
    this.depth--;
  }

  /** True when the innermost open container is an object. */
  inObject(): boolean {
    return this.depth > 0 && this.frames[this.depth - 1] !== null;
  }

  /**
   * Adds the key whose literal is text[start, end) to the innermost object;
   * returns the decoded key when it was already there, else undefined.
   */
  add(start: number, end: number): string | undefined {
    const frame = this.frames[this.depth - 1] as KeyFrame;
    const text = this.text;
    let decoded: string | undefined;
    let hash = hashRange(text, start + 1, end - 1);
    if (hash === ESCAPED) {
      decoded = keyAt(text, start, end);
      hash = hashRange(decoded, 0, decoded.length, false);
    }
    if (frame.mayHave(hash)) {
      for (let k = 0; k < frame.count; k++) {
        if (frame.hashes[k] === hash && this.same(frame, k, start, end, decoded)) return decoded ?? text.slice(start + 1, end - 1);
      }
    }
    frame.push(start, end, hash, decoded);
    return undefined;
  }

  /** True when key `k` of `frame` equals the key text[start, end) (decoded: `decoded`). */
  private same(frame: KeyFrame, k: number, start: number, end: number, decoded: string | undefined): boolean {
    const text = this.text;
    const earlier = frame.decoded[k];
    if (decoded !== undefined || earlier !== undefined) {
      return (decoded ?? text.slice(start + 1, end - 1)) === (earlier ?? text.slice((frame.starts[k] as number) + 1, (frame.ends[k] as number) - 1));
    }
    const from = (frame.starts[k] as number) + 1;
    const length = (frame.ends[k] as number) - 1 - from;
    if (length !== end - 1 - (start + 1)) return false;
    for (let i = 0; i < length; i++) if (text.charCodeAt(from + i) !== text.charCodeAt(start + 1 + i)) return false;
    return true;
  }
}

/** The keys of one open object (see KeyStack). */
class KeyFrame {
  readonly starts: number[] = [];
  readonly ends: number[] = [];
  readonly hashes: number[] = [];
  readonly decoded: Array<string | undefined> = [];
  count = 0;
  private readonly set = new Set<number>();
  private big = false;

  reset(): void {
    this.count = 0;
    if (this.big) this.set.clear();
    this.big = false;
  }

  /** False when no earlier key has this hash. */
  mayHave(hash: number): boolean {
    if (this.big) return this.set.has(hash);
    for (let k = 0; k < this.count; k++) if (this.hashes[k] === hash) return true;
    return false;
  }

  push(start: number, end: number, hash: number, decoded: string | undefined): void {
    const k = this.count++;
    this.starts[k] = start;
    this.ends[k] = end;
    this.hashes[k] = hash;
    this.decoded[k] = decoded;
    if (this.big) this.set.add(hash);
    else if (this.count === LINEAR_KEYS) {
      for (let j = 0; j < this.count; j++) this.set.add(this.hashes[j] as number);
      this.big = true;
    }
  }
}

/**
 * Index just past the JSON value that starts at `start` (no leading space),
 * throwing INVALID_JSON for an object in it that has a key twice.
 */
function endOfValue(text: string, start: number, stack: KeyStack, place: Place): number {
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
  const base = stack.depth;
  // True right after `{` or after a `,` inside an object: the next string is a key.
  let expectKey = false;
  let i = start;
  while (i < text.length) {
    const code = text.charCodeAt(i);
    if (code === QUOTE) {
      const end = endOfString(text, i);
      if (expectKey) {
        const repeated = stack.add(i, end);
        if (repeated !== undefined) throw duplicateKey(repeated, place);
        expectKey = false;
      }
      i = end;
      continue;
    }
    if (code === OPEN_BRACE) {
      stack.open(true);
      expectKey = true;
    } else if (code === OPEN_BRACKET) {
      stack.open(false);
      expectKey = false;
    } else if (code === CLOSE_BRACE || code === CLOSE_BRACKET) {
      stack.close();
      expectKey = false;
      if (stack.depth === base) return i + 1;
    } else if (code === COMMA) {
      expectKey = stack.inObject();
    }
    i++;
  }
  return i;
}

/**
 * [start, end) of every element of the array that starts at `start`, then
 * the index just past the array's `]`, as the last entry.
 */
function elementSpans(text: string, start: number, stack: KeyStack): number[] {
  const spans: number[] = [];
  let i = skipSpace(text, start + 1);
  if (text.charCodeAt(i) !== CLOSE_BRACKET) {
    while (i < text.length) {
      const end = endOfValue(text, i, stack, { event: spans.length / 2 });
      spans.push(i, end);
      i = skipSpace(text, end);
      if (text.charCodeAt(i) !== COMMA) break;
      i = skipSpace(text, i + 1);
    }
  }
  // Valid JSON: `i` is at the array's `]`.
  spans.push(i + 1);
  return spans;
}

/**
 * Start and end offsets (`[s0, e0, s1, e1, ...]`, ends exclusive) of the
 * elements of the array at `path` in a JSON body (by default the top-level
 * `"logs"`; a GraphQL body's variable is `["variables", "<name>"]`);
 * undefined when the body is not an object or the path leads to no array.
 * @throws AppError INVALID_JSON when any object in the body has a key twice
 *   (keys compared after unescaping): details `{ key }` for the keys of the
 *   objects on the path, `{ index, key }` inside event `index`,
 *   `{ member, key }` inside another member such as `schema`.
 * @example eventSpans('{"family":"f","logs":[{"a":1}, {"b":"]"}]}') // => [22, 29, 31, 40]
 * @example eventSpans('{"variables":{"e":[{"a":1}]}}', ['variables', 'e']) // => [19, 26]
 * @example eventSpans('{"logs":[{"n":"bad","n":2}]}') // throws INVALID_JSON { index: 0, key: 'n' }
 */
export function eventSpans(text: string, path: readonly string[] = ['logs']): number[] | undefined {
  const i = skipSpace(text, 0);
  if (text.charCodeAt(i) !== OPEN_BRACE || path.length === 0) return undefined;
  return objectSpans(text, i, new KeyStack(text), path).found;
}

/**
 * Scans the object whose `{` is at `start`, refusing a key twice; the member
 * at `path` (an array at its end, objects on the way) gives the spans.
 * Returns them, and the index just past the object.
 */
function objectSpans(text: string, start: number, stack: KeyStack, path: readonly string[]): { found: number[] | undefined; end: number } {
  const members = new Set<string>();
  let found: number[] | undefined;
  let i = skipSpace(text, start + 1);
  while (i < text.length && text.charCodeAt(i) === QUOTE) {
    const keyEnd = endOfString(text, i);
    const key = keyAt(text, i, keyEnd);
    if (members.has(key)) throw duplicateKey(key, undefined);
    members.add(key);
    i = skipSpace(text, keyEnd);
    if (text.charCodeAt(i) !== COLON) return { found: undefined, end: text.length };
    i = skipSpace(text, i + 1);
    let valueEnd: number;
    const onPath = key === path[0];
    if (onPath && path.length === 1 && text.charCodeAt(i) === OPEN_BRACKET) {
      found = elementSpans(text, i, stack);
      valueEnd = found.pop() as number;
    } else if (onPath && path.length > 1 && text.charCodeAt(i) === OPEN_BRACE) {
      const inner = objectSpans(text, i, stack, path.slice(1));
      found = inner.found;
      valueEnd = inner.end;
    } else {
      valueEnd = endOfValue(text, i, stack, { member: key });
    }
    i = skipSpace(text, valueEnd);
    if (text.charCodeAt(i) !== COMMA) break;
    i = skipSpace(text, i + 1);
  }
  // Valid JSON: `i` is at the object's `}`.
  return { found, end: i + 1 };
}
