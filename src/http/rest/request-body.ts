/**
 * Request bodies, from bytes on the wire to a parsed value: which media types
 * and content codings a body may have, gzip/deflate decompression under the
 * body limit, strict UTF-8, the nesting bound checked before JSON.parse, and
 * parse errors that never echo the body's bytes. Also the shared checks of
 * parsed REST bodies. http/server.ts wires these into fastify.
 */
import { isUtf8 } from 'node:buffer';
import { PassThrough, type Readable } from 'node:stream';
import { createGunzip, createInflate, createInflateRaw, type Gunzip, type Inflate, type InflateRaw } from 'node:zlib';
import { AppError, badInput } from '../../errors/app-error.js';

/** The body must be a JSON object; anything else is BAD_USER_INPUT. */
export function requireObject(body: unknown): Record<string, unknown> {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    throw badInput('the request body must be a JSON object', {});
  }
  return body as Record<string, unknown>;
}

/** The media type every JSON body is parsed as. */
export const JSON_MEDIA_TYPE = 'application/json';

/** Parses a body's checked UTF-8 text (no byte order mark) for a route's extra media type. */
export type BodyTextParser = (text: string) => unknown;

/** What to tell a client that sent the wrong Content-Type. */
const SEND_JSON = 'send the body as JSON with Content-Type: application/json (charset utf-8, or none)';

/** A header value fit to quote in a message: printable ASCII only, at most 60 characters. */
function shownHeader(value: string): string {
  const printable = value.replace(/[^\x20-\x7e]/g, '?');
  return JSON.stringify(printable.length > 60 ? `${printable.slice(0, 60)}...` : printable);
}

/** Content-Type values most clients send, answered without parsing the header (what the parse would answer). */
const COMMON_JSON_TYPES: ReadonlySet<string> = new Set(['application/json', 'application/json; charset=utf-8', 'application/json;charset=utf-8', 'application/json; charset=UTF-8']);

/**
 * The media type a body is parsed as, from its Content-Type: JSON for no
 * Content-Type, `application/json`, `application/*+json`, and
 * `application/x-www-form-urlencoded` (what `curl -d` sends without -H; the
 * seed read every body as JSON); otherwise one of the route's `extraTypes`
 * (lower-case essences, e.g. `application/x-ndjson`), returned as such. A
 * charset other than UTF-8, or any other type, is 415 UNSUPPORTED_MEDIA_TYPE.
 * @example bodyMediaType('application/json; charset=utf-8') // => 'application/json'
 */
export function bodyMediaType(header: string | undefined, extraTypes: readonly string[] = []): string {
  if (header === undefined || COMMON_JSON_TYPES.has(header) || header.trim() === '') return JSON_MEDIA_TYPE;
  const [essenceText = '', ...parameters] = header.split(';');
  const essence = essenceText.trim().toLowerCase();
  const accepted = extraTypes.includes(essence)
    ? essence
    : essence === JSON_MEDIA_TYPE || essence === 'application/x-www-form-urlencoded' || /^application\/[a-z0-9.!#$&^_-]+\+json$/.test(essence)
      ? JSON_MEDIA_TYPE
      : undefined;
  if (accepted === undefined) {
    const also = extraTypes.length > 0 ? ` (this route also takes ${extraTypes.join(', ')})` : '';
    throw new AppError('UNSUPPORTED_MEDIA_TYPE', `Content-Type ${shownHeader(essence)} is not accepted; ${SEND_JSON}${also}`, {
      contentType: essence.replace(/[^\x20-\x7e]/g, '?').slice(0, 100),
    });
  }
  for (const parameter of parameters) {
    const equals = parameter.indexOf('=');
    if (equals < 0 || parameter.slice(0, equals).trim().toLowerCase() !== 'charset') continue;
    const charset = parameter
      .slice(equals + 1)
      .trim()
      .replace(/^"(.*)"$/, '$1')
      .toLowerCase();
    if (charset !== 'utf-8' && charset !== 'utf8') {
      throw new AppError('UNSUPPORTED_MEDIA_TYPE', `charset ${shownHeader(charset)} is not accepted; encode the body as UTF-8 and ${SEND_JSON}`, {
        charset: charset.replace(/[^\x20-\x7e]/g, '?').slice(0, 100),
      });
    }
  }
  return accepted;
}

/** The content codings a body may arrive in. */
export type ContentCoding = 'gzip' | 'deflate';

/**
 * The coding of a body from its Content-Encoding: none (or `identity`),
 * `gzip` (`x-gzip`) or `deflate`; anything else, or more than one coding,
 * is 415 UNSUPPORTED_MEDIA_TYPE.
 */
export function contentCoding(header: string | undefined): ContentCoding | null {
  if (header === undefined) return null;
  const codings = header
    .split(',')
    .map((c) => c.trim().toLowerCase())
    .filter((c) => c !== '' && c !== 'identity');
  if (codings.length === 0) return null;
  const [only] = codings;
  if (codings.length === 1 && (only === 'gzip' || only === 'x-gzip')) return 'gzip';
  if (codings.length === 1 && only === 'deflate') return 'deflate';
  throw new AppError(
    'UNSUPPORTED_MEDIA_TYPE',
    `Content-Encoding ${shownHeader(header)} is not accepted; send the body uncompressed, or compressed once with Content-Encoding: gzip or deflate`,
    { contentEncoding: header.replace(/[^\x20-\x7e]/g, '?').slice(0, 100) },
  );
}

/** The 413 of a body over the limit (after decompression). */
export function bodyTooLarge(limitBytes: number): AppError {
  return new AppError(
    'PAYLOAD_TOO_LARGE',
    `the request body is larger than ${limitBytes} bytes (decompressed); split the logs into smaller batches or raise --body_limit_bytes`,
    { limitBytes },
  );
}

/** A stream of decompressed body bytes; `receivedEncodedLength` counts the bytes received, for fastify's Content-Length check. */
export type DecodedBody = PassThrough & { receivedEncodedLength: number };

/**
 * Decompresses `source` (`gzip`, or `deflate` in its zlib or raw form, as
 * clients send both). The stream fails with PAYLOAD_TOO_LARGE as soon as
 * more than `limitBytes` come out, and stops inflating then, so a zip bomb
 * costs at most the limit; corrupt data fails with BAD_USER_INPUT.
 */
export function decompressBody(source: Readable, coding: ContentCoding, limitBytes: number): DecodedBody {
  const out = new PassThrough() as DecodedBody;
  out.receivedEncodedLength = 0;
  let inflater: Gunzip | Inflate | InflateRaw | undefined;
  let produced = 0;
  let failed = false;
  const fail = (error: AppError): void => {
    if (failed) return;
    failed = true;
    source.removeListener('data', onSource);
    inflater?.destroy();
    out.destroy(error);
  };
  const start = (first: Buffer): Gunzip | Inflate | InflateRaw => {
    // RFC 9110 deflate is zlib-wrapped; many clients send raw deflate. A zlib
    // header is CMF (method 8) and FLG with CMF*256+FLG divisible by 31.
    const cmf = first[0] ?? 0;
    const zlibWrapped = (cmf & 0x0f) === 8 && ((cmf << 8) | (first[1] ?? 0)) % 31 === 0;
    const created = coding === 'gzip' ? createGunzip() : zlibWrapped ? createInflate() : createInflateRaw();
    created.on('data', (chunk: Buffer) => {
      produced += chunk.length;
      if (produced > limitBytes) {
        fail(bodyTooLarge(limitBytes));
        return;
      }
      if (!out.write(chunk)) created.pause();
    });
    created.on('end', () => {
      if (!failed) out.end();
    });
    created.on('error', (error: Error) => {
      fail(
        badInput(`the request body is not valid ${coding} data (${error.message.replace(/[^\x20-\x7e]/g, '?').slice(0, 80)}); compress it with ${coding}, or send it uncompressed without Content-Encoding`, {
          contentEncoding: coding,
        }),
      );
    });
    created.on('drain', () => source.resume());
    return created;
  };
  out.on('drain', () => inflater?.resume());
  function onSource(chunk: Buffer): void {
    out.receivedEncodedLength += chunk.length;
    inflater ??= start(chunk);
    if (!inflater.write(chunk)) source.pause();
  }
  source.on('data', onSource);
  source.on('end', () => {
    if (failed) return;
    if (inflater === undefined) out.end();
    else inflater.end();
  });
  source.on('error', (error: Error) => {
    if (failed) return;
    failed = true;
    inflater?.destroy();
    out.destroy(error);
  });
  return out;
}

/** Index of the first byte of `bytes` that does not start or continue a valid UTF-8 sequence (the error path only). */
export function firstInvalidUtf8(bytes: Uint8Array): number {
  let i = 0;
  while (i < bytes.length) {
    const b = bytes[i] as number;
    if (b < 0x80) {
      i++;
      continue;
    }
    let need: number;
    let min: number;
    if (b >= 0xc2 && b <= 0xdf) [need, min] = [1, 0x80];
    else if (b >= 0xe0 && b <= 0xef) [need, min] = [2, 0x800];
    else if (b >= 0xf0 && b <= 0xf4) [need, min] = [3, 0x10000];
    else return i;
    let code = b & (0x3f >> need);
    for (let k = 1; k <= need; k++) {
      const c = bytes[i + k];
      if (c === undefined || (c & 0xc0) !== 0x80) return i;
      code = (code << 6) | (c & 0x3f);
    }
    if (code < min || code > 0x10ffff || (code >= 0xd800 && code <= 0xdfff)) return i;
    i += need + 1;
  }
  return -1;
}

/**
 * The body's text: strict UTF-8 (invalid bytes are 400 INVALID_JSON naming
 * the offset, never replaced by U+FFFD), without a leading byte order mark.
 */
export function decodeUtf8Body(bytes: Buffer): string {
  if (!isUtf8(bytes)) {
    const at = firstInvalidUtf8(bytes);
    throw new AppError('INVALID_JSON', `the request body is not valid UTF-8 (invalid byte at offset ${at}); send JSON text encoded as UTF-8`, { offset: at });
  }
  const text = bytes.toString('utf8');
  return text.charCodeAt(0) === 0xfeff ? text.slice(1) : text;
}

const QUOTE = 34;
const BACKSLASH = 92;
const OPEN_BRACKET = 91;
const CLOSE_BRACKET = 93;
const OPEN_BRACE = 123;
const CLOSE_BRACE = 125;

/**
 * Where JSON `text` first nests arrays/objects deeper than `maxDepth`
 * (brackets inside strings do not count), or -1. One linear pass that jumps
 * over strings with indexOf; it does not validate (JSON.parse does, after).
 */
export function depthExceededAt(text: string, maxDepth: number): number {
  let depth = 0;
  const length = text.length;
  for (let i = 0; i < length; i++) {
    const c = text.charCodeAt(i);
    if (c === QUOTE) {
      let j = i;
      for (;;) {
        j = text.indexOf('"', j + 1);
        if (j < 0) return -1;
        let backslashes = 0;
        while (text.charCodeAt(j - 1 - backslashes) === BACKSLASH) backslashes++;
        if ((backslashes & 1) === 0) break;
      }
      i = j;
    } else if (c === OPEN_BRACKET || c === OPEN_BRACE) {
      if (++depth > maxDepth) return i;
    } else if (c === CLOSE_BRACKET || c === CLOSE_BRACE) {
      depth--;
    }
  }
  return -1;
}

/** At most `max` characters of `text` around `at`, with control characters, quotes and odd code points escaped: safe to put in a message. */
export function excerpt(text: string, at: number, max = 24): string {
  const from = Math.max(0, at - Math.floor(max / 2));
  const piece = text.slice(from, from + max);
  const escaped = JSON.stringify(piece).replace(/[\u007f-\u009f\u00ad\u061c\u200b-\u200f\u2028-\u202e\u2060-\u206f\ufeff\ufff0-\uffff]/g, (ch) => `\\u${ch.charCodeAt(0).toString(16).padStart(4, '0')}`);
  return `${from > 0 ? '...' : ''}${escaped}${from + max < text.length ? '...' : ''}`;
}

/** A JSON.parse failure as a message that says what and where, quoting at most a short escaped excerpt. */
export function describeJsonError(error: unknown, text: string): string {
  const message = error instanceof Error ? error.message : String(error);
  const position = /at position (\d+)/.exec(message);
  if (position !== null) {
    const at = Number(position[1]);
    const what = message.replace(/\s*\(line \d+ column \d+\)/, '').replace(/ in JSON at position \d+.*$/s, '').replace(/ at position \d+.*$/s, '');
    return `${what.replace(/[^\x20-\x7e]/g, '?').slice(0, 80)} at position ${at}, near ${excerpt(text, at)}`;
  }
  if (/^Unexpected end of JSON input/.test(message)) return `it ends early, after ${text.length} characters`;
  // V8 names the token and quotes the text around it; keep only the token, escaped.
  const token = /^Unexpected token '([\s\S]*?)', /.exec(message);
  if (token !== null) return `unexpected character ${excerpt(token[1] ?? '', 0, 4)}`;
  return message.replace(/[^\x20-\x7e]/g, '?').slice(0, 80);
}

/**
 * Parses a JSON body's text: nesting deeper than `maxDepth` is refused before
 * JSON.parse runs, and every failure is 400 INVALID_JSON whose message says
 * what is wrong and how to fix it, without echoing the body.
 */
export function parseJsonBody(text: string, maxDepth: number): unknown {
  const deep = depthExceededAt(text, maxDepth);
  if (deep >= 0) {
    throw new AppError(
      'INVALID_JSON',
      `the request body nests arrays and objects more than ${maxDepth} levels deep (at position ${deep}); flatten it, or raise --body_max_depth`,
      { limit: maxDepth, position: deep },
    );
  }
  try {
    return JSON.parse(text) as unknown;
  } catch (error) {
    throw new AppError('INVALID_JSON', `the request body is not valid JSON: ${describeJsonError(error, text)}; send a JSON object`, {});
  }
}
