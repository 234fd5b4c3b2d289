import { Readable } from 'node:stream';
import { deflateRawSync, deflateSync, gzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { AppError } from '../../../../src/errors/app-error.js';
import {
  bodyMediaType,
  contentCoding,
  decodeUtf8Body,
  decompressBody,
  depthExceededAt,
  describeJsonError,
  excerpt,
  firstInvalidUtf8,
  parseJsonBody,
} from '../../../../src/http/rest/request-body.js';

function codeOf(run: () => unknown): string | undefined {
  try {
    run();
  } catch (error) {
    return error instanceof AppError ? error.code : `not an AppError: ${String(error)}`;
  }
  return undefined;
}

async function drain(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

/** `bytes` as a stream of 16 KiB chunks, counting what was read. */
function chunked(bytes: Buffer): Readable & { served: number } {
  let offset = 0;
  const stream = new Readable({
    read() {
      if (offset >= bytes.length) {
        this.push(null);
        return;
      }
      const next = bytes.subarray(offset, offset + 16 * 1024);
      offset += next.length;
      stream.served = offset;
      this.push(next);
    },
  }) as Readable & { served: number };
  stream.served = 0;
  return stream;
}

describe('bodyMediaType', () => {
  it.each([
    [undefined, 'application/json'],
    ['', 'application/json'],
    ['application/json', 'application/json'],
    ['application/json; charset=utf-8', 'application/json'],
    ['APPLICATION/JSON;CHARSET="UTF8"', 'application/json'],
    ['application/problem+json', 'application/json'],
    ['application/x-www-form-urlencoded', 'application/json'],
  ])('%s is parsed as %s', (header, expected) => {
    expect(bodyMediaType(header)).toBe(expected);
  });

  it.each([['text/plain'], ['application/jsonx'], ['application/json; charset=latin1'], ['application/json; charset=utf-16'], ['application/x-ndjson'], ['+json'], ['text/json']])(
    '%s is 415 UNSUPPORTED_MEDIA_TYPE',
    (header) => {
      expect(codeOf(() => bodyMediaType(header))).toBe('UNSUPPORTED_MEDIA_TYPE');
    },
  );

  it('a route can opt in to more media types, returned as such', () => {
    expect(bodyMediaType('application/x-ndjson', ['application/x-ndjson'])).toBe('application/x-ndjson');
    expect(bodyMediaType('application/json', ['application/x-ndjson'])).toBe('application/json');
    expect(codeOf(() => bodyMediaType('application/x-ndjson; charset=latin1', ['application/x-ndjson']))).toBe('UNSUPPORTED_MEDIA_TYPE');
  });

  it('quotes the header sanitised and short', () => {
    try {
      bodyMediaType(`text/\u0001${'x'.repeat(500)}`);
      expect.unreachable();
    } catch (error) {
      const message = (error as AppError).message;
      expect(message).not.toMatch(/[\u0000-\u001f]/);
      expect(message.length).toBeLessThan(250);
      expect(message).toContain('application/json');
    }
  });
});

describe('contentCoding', () => {
  it.each([
    [undefined, null],
    ['identity', null],
    ['gzip', 'gzip'],
    ['X-GZIP', 'gzip'],
    ['deflate', 'deflate'],
    ['identity, gzip', 'gzip'],
  ])('%s is %s', (header, expected) => {
    expect(contentCoding(header)).toBe(expected);
  });

  it.each([['br'], ['compress'], ['zstd'], ['gzip, gzip'], ['gzip, deflate']])('%s is 415', (header) => {
    expect(codeOf(() => contentCoding(header))).toBe('UNSUPPORTED_MEDIA_TYPE');
  });
});

describe('decompressBody', () => {
  const text = JSON.stringify({ logs: Array.from({ length: 500 }, (_, i) => ({ i, s: 'é'.repeat(i % 7) })) });

  it.each([
    ['gzip', gzipSync],
    ['deflate', deflateSync],
    ['deflate', deflateRawSync],
  ] as const)('%s (%#) comes out as sent, counting the compressed bytes', async (coding, compress) => {
    const compressed = compress(Buffer.from(text));
    const stream = decompressBody(chunked(compressed), coding, 1024 * 1024);
    expect((await drain(stream)).toString('utf8')).toBe(text);
    expect(stream.receivedEncodedLength).toBe(compressed.length);
  });

  it('an empty body stays empty', async () => {
    expect((await drain(decompressBody(Readable.from([]), 'gzip', 10))).length).toBe(0);
  });

  it('stops a zip bomb at the limit, long before reading all of it', async () => {
    const bomb = gzipSync(Buffer.alloc(256 * 1024 * 1024));
    const source = chunked(bomb);
    const stream = decompressBody(source, 'gzip', 1024 * 1024);
    const error = await drain(stream).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(AppError);
    expect((error as AppError).code).toBe('PAYLOAD_TOO_LARGE');
    // 1 MiB of output is about 1/256 of the input; allow generous read-ahead.
    expect(source.served).toBeLessThan(bomb.length / 4);
  });

  it('corrupt data is BAD_USER_INPUT naming the coding', async () => {
    const corrupt = gzipSync(Buffer.from(text));
    corrupt.fill(0xff, 10, 40);
    const error = await drain(decompressBody(chunked(corrupt), 'gzip', 1024 * 1024)).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect((error as AppError).code).toBe('BAD_USER_INPUT');
    expect((error as AppError).message).toMatch(/gzip/);
  });
});

describe('UTF-8', () => {
  const fatal = new TextDecoder('utf-8', { fatal: true });
  const samples: number[][] = [
    [0x41],
    [0xc3, 0xa9],
    [0xe2, 0x82, 0xac],
    [0xf0, 0x9f, 0x99, 0x82],
    [0xff],
    [0xc0, 0x80],
    [0xc3],
    [0xe0, 0x80, 0x80],
    [0xed, 0xa0, 0x80],
    [0xf4, 0x90, 0x80, 0x80],
    [0xf5, 0x80, 0x80, 0x80],
    [0x80],
    [0x41, 0xe2, 0x82],
  ];

  it('firstInvalidUtf8 agrees with a fatal TextDecoder on every sample, alone and combined', () => {
    for (const a of samples) {
      for (const b of samples) {
        const bytes = Uint8Array.from([...a, ...b]);
        let valid = true;
        try {
          fatal.decode(bytes);
        } catch {
          valid = false;
        }
        expect(firstInvalidUtf8(bytes) === -1, `${Buffer.from(bytes).toString('hex')}`).toBe(valid);
      }
    }
    expect(firstInvalidUtf8(Buffer.from([0x41, 0x42, 0xff]))).toBe(2);
  });

  it('decodeUtf8Body refuses invalid bytes with INVALID_JSON and the offset, and drops a byte order mark', () => {
    expect(codeOf(() => decodeUtf8Body(Buffer.from([0x7b, 0xff, 0x7d])))).toBe('INVALID_JSON');
    try {
      decodeUtf8Body(Buffer.from([0x7b, 0x22, 0xc3, 0x22, 0x7d]));
    } catch (error) {
      expect((error as AppError).details).toMatchObject({ offset: 2 });
      expect((error as AppError).message).toContain('UTF-8');
    }
    expect(decodeUtf8Body(Buffer.from('\ufeff{"a":"é"}'))).toBe('{"a":"é"}');
  });
});

describe('depthExceededAt', () => {
  it('counts arrays and objects, not brackets inside strings or after escaped quotes', () => {
    expect(depthExceededAt('[[[]]]', 3)).toBe(-1);
    expect(depthExceededAt('[[[[]]]]', 3)).toBe(3);
    expect(depthExceededAt('{"a":{"b":[1]}}', 3)).toBe(-1);
    expect(depthExceededAt('{"a":{"b":[{}]}}', 3)).toBe(11);
    expect(depthExceededAt(`["[[[[[[", "\\"[[[[", "\\\\", [[1]]]`, 3)).toBe(-1);
    expect(depthExceededAt(`["\\\\", [[[1]]]]`, 3)).toBe(9);
    expect(depthExceededAt('[[[[', 64)).toBe(-1);
  });

  it('scans a 1000-event ingest body and a 1,000,000-bracket body', () => {
    const body = JSON.stringify({
      family: 'f',
      schema: { a: 'int', b: 'string', c: 'json' },
      logs: Array.from({ length: 1000 }, (_, i) => ({ a: i, b: `value "${i}" [with] {brackets}`, c: { x: [i, { y: 'z' }] } })),
    });
    expect(depthExceededAt(body, 64)).toBe(-1);
    expect(depthExceededAt('['.repeat(1_000_000), 64)).toBe(64);
  });
});

describe('parseJsonBody and its messages', () => {
  it('parses, and refuses too-deep bodies naming the limit', () => {
    expect(parseJsonBody('{"a":[1]}', 64)).toEqual({ a: [1] });
    try {
      parseJsonBody('[[[[1]]]]', 3);
      expect.unreachable();
    } catch (error) {
      expect((error as AppError).code).toBe('INVALID_JSON');
      expect((error as AppError).details).toMatchObject({ limit: 3, position: 3 });
      expect((error as AppError).message).toContain('body_max_depth');
    }
  });

  it.each([
    ['{"a":}'],
    ['{"a":1,}'],
    ['{"a":"x\u0000"}'],
    ['\u0001\u0002binary\u00ff{'],
    [`{"a":1${' '.repeat(100)}\u0007${' '.repeat(100)}}`],
    ['{"a":"abc'],
    [''],
    ['{"k":1}\u001b[31m'],
    ['\u2028\u202e{'],
  ])('%j gives a short message without control characters', (text) => {
    try {
      parseJsonBody(text, 64);
      expect.unreachable();
    } catch (error) {
      const message = (error as AppError).message;
      expect((error as AppError).code).toBe('INVALID_JSON');
      expect(message).not.toMatch(/[\u0000-\u001f\u007f-\u009f\u2028\u2029\u202e]/);
      expect(message.length).toBeLessThan(200);
      expect(message).toMatch(/send a JSON object$/);
    }
  });

  it('names the position and a short excerpt when V8 gives one', () => {
    let error: unknown;
    try {
      JSON.parse('{"a":1,}');
    } catch (e) {
      error = e;
    }
    expect(describeJsonError(error, '{"a":1,}')).toBe('Expected double-quoted property name at position 7, near "{\\"a\\":1,}"');
  });

  it('excerpt escapes and shortens', () => {
    expect(excerpt('abc', 1)).toBe('"abc"');
    expect(excerpt('x'.repeat(100), 50, 10)).toBe('..."xxxxxxxxxx"...');
    expect(excerpt('a\u0000\u202eb', 0)).toBe('"a\\u0000\\u202eb"');
  });
});
