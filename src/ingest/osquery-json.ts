/**
 * A JSON parser that keeps big integers exact: an integer literal beyond
 * ±(2^53 - 1) becomes the string of its digits, as osquery would have sent
 * it without --logger_numerics (`18446744073709551615` stays
 * "18446744073709551615"; JSON.parse would round it to ...552000). Every
 * other value is what JSON.parse gives. Pure.
 *
 * Used for osquery lines that hold a run of 16+ digits; other lines go to
 * JSON.parse, which is faster.
 */

/** A syntax error at an offset of the text, with its 1-based line and column. */
export class JsonSyntaxError extends Error {
  constructor(
    message: string,
    readonly offset: number,
    readonly line: number,
    readonly column: number,
  ) {
    super(message);
    this.name = 'JsonSyntaxError';
  }
}

/** Where an array element starts, for {@link parseJsonLossless}'s `elementStarts`. */
export interface ElementStart {
  offset: number;
  line: number;
}

const ESCAPES: Readonly<Record<string, string>> = { '"': '"', '\\': '\\', '/': '/', b: '\b', f: '\f', n: '\n', r: '\r', t: '\t' };

class LosslessParser {
  private pos = 0;
  readonly starts: ElementStart[] = [];

  constructor(
    private readonly text: string,
    private readonly maxDepth: number,
  ) {}

  fail(message: string, at = this.pos): never {
    let line = 1;
    let lineStart = 0;
    for (let i = 0; i < at && i < this.text.length; i++) {
      if (this.text.charCodeAt(i) === 10) {
        line++;
        lineStart = i + 1;
      }
    }
    throw new JsonSyntaxError(`${message} at line ${line}, column ${at - lineStart + 1}`, at, line, at - lineStart + 1);
  }

  private ws(): void {
    const t = this.text;
    while (this.pos < t.length) {
      const c = t.charCodeAt(this.pos);
      if (c === 32 || c === 9 || c === 10 || c === 13) this.pos++;
      else break;
    }
  }

  document(recordStarts: boolean): unknown {
    this.ws();
    const value = this.value(0, recordStarts);
    this.ws();
    if (this.pos < this.text.length) this.fail('unexpected text after the JSON value');
    return value;
  }

  private value(depth: number, recordStarts = false): unknown {
    const t = this.text;
    const c = t[this.pos];
    switch (c) {
      case '{':
        return this.object(depth + 1);
      case '[':
        return this.array(depth + 1, recordStarts);
      case '"':
        return this.string();
      case 't':
        return this.literal('true', true);
      case 'f':
        return this.literal('false', false);
      case 'n':
        return this.literal('null', null);
      default:
        if (c === '-' || (c !== undefined && c >= '0' && c <= '9')) return this.number();
        return this.fail(c === undefined ? 'unexpected end of the JSON text' : `unexpected character ${JSON.stringify(c)}`);
    }
  }

  private literal<T>(word: string, value: T): T {
    if (!this.text.startsWith(word, this.pos)) this.fail(`unexpected character ${JSON.stringify(this.text[this.pos])}`);
    this.pos += word.length;
    return value;
  }

  private number(): number | string {
    const m = /-?(?:0|[1-9]\d*)(\.\d+)?([eE][+-]?\d+)?/y;
    m.lastIndex = this.pos;
    const found = m.exec(this.text);
    if (found === null) this.fail('invalid number');
    this.pos += found[0].length;
    const n = Number(found[0]);
    if (found[1] === undefined && found[2] === undefined && !Number.isSafeInteger(n)) return found[0];
    return n;
  }

  private string(): string {
    const t = this.text;
    let i = this.pos + 1;
    let out = '';
    let chunk = i;
    for (;;) {
      if (i >= t.length) this.fail('unterminated string', this.pos);
      const c = t.charCodeAt(i);
      if (c === 34) break;
      if (c < 32) this.fail('control character in a string (escape it)', i);
      if (c === 92) {
        out += t.slice(chunk, i);
        const e = t[i + 1];
        if (e === 'u') {
          const hex = t.slice(i + 2, i + 6);
          if (!/^[0-9a-fA-F]{4}$/.test(hex)) this.fail('invalid \\u escape', i);
          out += String.fromCharCode(parseInt(hex, 16));
          i += 6;
        } else {
          const r = e === undefined ? undefined : ESCAPES[e];
          if (r === undefined) this.fail('invalid escape in a string', i);
          out += r;
          i += 2;
        }
        chunk = i;
      } else {
        i++;
      }
    }
    out += t.slice(chunk, i);
    this.pos = i + 1;
    return out;
  }

  private object(depth: number): Record<string, unknown> {
    if (depth > this.maxDepth) this.fail(`nesting deeper than ${this.maxDepth} levels`);
    this.pos++;
    const obj: Record<string, unknown> = {};
    this.ws();
    if (this.text[this.pos] === '}') {
      this.pos++;
      return obj;
    }
    for (;;) {
      this.ws();
      if (this.text[this.pos] !== '"') this.fail('expected a property name in double quotes');
      const key = this.string();
      this.ws();
      if (this.text[this.pos] !== ':') this.fail('expected ":" after a property name');
      this.pos++;
      this.ws();
      const value = this.value(depth);
      // Own property even for "__proto__", as JSON.parse makes it.
      Object.defineProperty(obj, key, { value, writable: true, enumerable: true, configurable: true });
      this.ws();
      const c = this.text[this.pos];
      if (c === ',') {
        this.pos++;
        continue;
      }
      if (c === '}') {
        this.pos++;
        return obj;
      }
      this.fail('expected "," or "}" in an object');
    }
  }

  private array(depth: number, recordStarts: boolean): unknown[] {
    if (depth > this.maxDepth) this.fail(`nesting deeper than ${this.maxDepth} levels`);
    this.pos++;
    const items: unknown[] = [];
    this.ws();
    if (this.text[this.pos] === ']') {
      this.pos++;
      return items;
    }
    let lastOffset = 0;
    let lastLine = 1;
    for (;;) {
      this.ws();
      if (recordStarts) {
        // Count lines incrementally from the previous element.
        for (let i = lastOffset; i < this.pos; i++) if (this.text.charCodeAt(i) === 10) lastLine++;
        lastOffset = this.pos;
        this.starts.push({ offset: this.pos, line: lastLine });
      }
      items.push(this.value(depth));
      this.ws();
      const c = this.text[this.pos];
      if (c === ',') {
        this.pos++;
        continue;
      }
      if (c === ']') {
        this.pos++;
        return items;
      }
      this.fail('expected "," or "]" in an array');
    }
  }
}

/** Options of {@link parseJsonLossless}. */
export interface LosslessOptions {
  /** Deepest nesting accepted; default 64. */
  maxDepth?: number;
}

/**
 * Parses one JSON text, keeping integers beyond 2^53 as digit strings.
 *
 * @throws JsonSyntaxError with the line and column of the first error.
 * @example parseJsonLossless('{"a":18446744073709551615}') // => { a: '18446744073709551615' }
 */
export function parseJsonLossless(text: string, opts: LosslessOptions = {}): unknown {
  return new LosslessParser(text, opts.maxDepth ?? 64).document(false);
}

/**
 * Like {@link parseJsonLossless} for a text that is a JSON array, also
 * returning where each top-level element starts (offset, 1-based line).
 *
 * @throws JsonSyntaxError
 */
export function parseJsonArrayLossless(text: string, opts: LosslessOptions = {}): { value: unknown; starts: ElementStart[] } {
  const parser = new LosslessParser(text, opts.maxDepth ?? 64);
  const value = parser.document(true);
  return { value, starts: parser.starts };
}
