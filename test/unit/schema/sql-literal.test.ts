import { describe, expect, it } from 'vitest';
import { quoteString, sqlLiteral } from '../../../src/schema/sql-literal.js';

/** Reads a single-quoted MySQL literal back, by the server's rules (no NO_BACKSLASH_ESCAPES). */
function unquote(literal: string): string {
  expect(literal.startsWith("'") && literal.endsWith("'")).toBe(true);
  const body = literal.slice(1, -1);
  let out = '';
  for (let i = 0; i < body.length; i++) {
    const ch = body[i] as string;
    if (ch === "'") throw new Error(`unescaped quote at ${i} in ${literal}`);
    if (ch !== '\\') {
      out += ch;
      continue;
    }
    const next = body[++i];
    if (next === undefined) throw new Error('dangling backslash');
    out += ({ '0': '\0', n: '\n', r: '\r', Z: '\x1a', b: '\b', t: '\t' } as Record<string, string>)[next] ?? next;
  }
  return out;
}

describe('sqlLiteral', () => {
  it('writes NULL, booleans and numbers', () => {
    expect([null, true, false, 0, -1.5, 1e21, 9007199254740991].map((v) => sqlLiteral(v))).toEqual([
      'NULL', 'TRUE', 'FALSE', '0', '-1.5', '1e+21', '9007199254740991',
    ]);
    expect(() => sqlLiteral(Number.NaN)).toThrow(RangeError);
  });

  it('escapes what a single-quoted literal needs and leaves double quotes alone', () => {
    expect(quoteString('plain')).toBe("'plain'");
    expect(quoteString(`it's "x"\\`)).toBe(`'it\\'s "x"\\\\'`);
    expect(quoteString('a\0b\nc\rd\x1ae')).toBe("'a\\0b\\nc\\rd\\Ze'");
  });

  it('round-trips any text, including every ASCII control and quote character', () => {
    const alphabet = ["'", '"', '\\', '\0', '\n', '\r', '\x1a', '\t', '\b', '`', ';', '?', 'a', 'é', '😀', '%', '_'];
    let seed = 7;
    const random = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
    for (let n = 0; n < 2000; n++) {
      const text = Array.from({ length: Math.floor(random() * 12) }, () => alphabet[Math.floor(random() * alphabet.length)]).join('');
      expect(unquote(quoteString(text))).toBe(text);
    }
    for (let code = 0; code < 256; code++) expect(unquote(quoteString(String.fromCharCode(code)))).toBe(String.fromCharCode(code));
  });
});
