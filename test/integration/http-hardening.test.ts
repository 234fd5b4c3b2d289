/**
 * HTTP hardening of request bodies: which media types and content codings
 * are accepted (JSON in any of its usual labels, gzip and deflate for real,
 * the body limit on the decompressed size), invalid UTF-8 and too-deep JSON
 * refused, parse errors that never echo the body's bytes, and /readyz
 * without server versions. Every refusal is a 4xx in the error envelope
 * with a registered code, and writes nothing anywhere.
 */
import { deflateRawSync, deflateSync, gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { ERROR_CODES } from '../../src/errors/codes.js';
import { query, snapshotFamily, startGateway, uniqueFamily, type FamilySnapshot, type TestGateway } from './helpers/gateway.js';

const shards = inject('shards');
let gateway: TestGateway;
/** A gateway with a 1 MiB body limit, for the zip bomb. */
let small: TestGateway;

beforeAll(async () => {
  [gateway, small] = await Promise.all([startGateway(shards), startGateway(shards, ['--body_limit_bytes=1048576'])]);
});
afterAll(async () => {
  await Promise.all([gateway?.close(), small?.close()]);
});

interface Answer {
  status: number;
  body: any;
  text: string;
}

/** PUT /api/log with exactly these bytes and headers (no Content-Type unless given). */
async function put(target: { url: string }, body: string | Uint8Array, headers: Record<string, string> = {}): Promise<Answer> {
  const response = await fetch(`${target.url}/api/log`, { method: 'PUT', headers, body });
  const text = await response.text();
  let parsed: unknown = text;
  try {
    parsed = JSON.parse(text);
  } catch {
    // keep the text
  }
  return { status: response.status, body: parsed, text };
}

function ingestBody(family: string, logs: unknown[] = [{ n: 1 }], schema: Record<string, string> = { n: 'int' }): string {
  return JSON.stringify({ family, schema, logs });
}

const EMPTY: FamilySnapshot = { columns: {}, rows: {}, rawLogs: {}, idempotencyKeys: {}, placements: [], declared: [] };

/** Nothing of `family` exists on any shard or in the catalog. */
async function expectNothingWritten(family: string): Promise<void> {
  const snapshot = await snapshotFamily(shards, family);
  expect(snapshot.placements).toEqual(EMPTY.placements);
  expect(snapshot.declared).toEqual([]);
  expect(Object.values(snapshot.columns).every((c) => c === null)).toBe(true);
  expect(Object.values(snapshot.rawLogs).every((n) => n === 0)).toBe(true);
}

/** A refusal: the status, a registered code of that status, a message that says what to do, never a stack. */
function expectRefused(answer: Answer, status: number, code: string): void {
  expect(answer.status, answer.text).toBe(status);
  expect(answer.body?.error?.code, answer.text).toBe(code);
  expect((ERROR_CODES as Record<string, number>)[code]).toBe(status);
  expect(typeof answer.body.error.message).toBe('string');
  expect(answer.body.error.message.length).toBeGreaterThan(20);
  expect(answer.text).not.toMatch(/\bat .*\.(ts|js):\d+/);
}

async function countOf(family: string): Promise<number> {
  const answer = await query(gateway, `SELECT COUNT(*) AS c FROM ${family}`);
  expect(answer.status, JSON.stringify(answer.body)).toBe(200);
  return Number(answer.body.results[0].c);
}

describe('media types', () => {
  it.each([['text/plain'], ['application/jsonx'], ['application/json; charset=latin1'], ['application/xml'], ['text/html; charset=utf-8'], ['multipart/form-data; boundary=x']])(
    '%s is 415 UNSUPPORTED_MEDIA_TYPE naming what to send, and writes nothing',
    async (contentType) => {
      const family = uniqueFamily('mt');
      const answer = await put(gateway, ingestBody(family), { 'content-type': contentType });
      expectRefused(answer, 415, 'UNSUPPORTED_MEDIA_TYPE');
      expect(answer.body.error.message).toContain('application/json');
      await expectNothingWritten(family);
    },
  );

  it.each([
    ['application/json'],
    ['application/json; charset=utf-8'],
    ['Application/JSON; Charset="UTF-8"'],
    ['application/vnd.databalancer+json'],
    // What curl -d sends without -H.
    ['application/x-www-form-urlencoded'],
  ])('%s is accepted as JSON', async (contentType) => {
    const family = uniqueFamily('mt');
    const answer = await put(gateway, ingestBody(family), { 'content-type': contentType });
    expect(answer.status, answer.text).toBe(200);
    expect(await countOf(family)).toBe(1);
  });

  it('a body without any Content-Type is accepted as JSON', async () => {
    const family = uniqueFamily('mt');
    // A Uint8Array body: fetch sets no Content-Type.
    const answer = await put(gateway, new TextEncoder().encode(ingestBody(family)));
    expect(answer.status, answer.text).toBe(200);
    expect(await countOf(family)).toBe(1);
  });

  it('an unknown route or method is 404 / 405 whatever its body', async () => {
    const unknown = await fetch(`${gateway.url}/api/nope`, { method: 'PUT', headers: { 'content-type': 'text/plain', 'content-encoding': 'br' }, body: '\u0001 not json' });
    expect(unknown.status).toBe(404);
    expect(((await unknown.json()) as { error: { code: string } }).error.code).toBe('ROUTE_NOT_FOUND');
    const wrongMethod = await fetch(`${gateway.url}/api/describe`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{nope' });
    expect(wrongMethod.status).toBe(405);
    expect(((await wrongMethod.json()) as { error: { code: string } }).error.code).toBe('METHOD_NOT_ALLOWED');
  });

  it('POST /api/query refuses text/plain too', async () => {
    const response = await fetch(`${gateway.url}/api/query`, {
      method: 'POST',
      headers: { 'content-type': 'text/plain' },
      body: JSON.stringify({ query: 'SELECT 1' }),
    });
    const text = await response.text();
    expectRefused({ status: response.status, body: JSON.parse(text), text }, 415, 'UNSUPPORTED_MEDIA_TYPE');
  });
});

describe('content codings', () => {
  it('gzip, deflate (zlib and raw) and identity bodies are decompressed and stored, raw copies included', async () => {
    const cases: Array<[string, (b: Buffer) => Buffer]> = [
      ['gzip', gzipSync],
      ['x-gzip', gzipSync],
      ['deflate', deflateSync],
      ['deflate', deflateRawSync],
      ['identity', (b) => b],
    ];
    for (const [coding, compress] of cases) {
      const family = uniqueFamily('enc');
      const logs = [{ n: 1, s: 'été ✓' }, { n: 2, s: 'x'.repeat(50_000) }];
      const answer = await put(gateway, compress(Buffer.from(ingestBody(family, logs, { n: 'int', s: 'string' }))), {
        'content-type': 'application/json',
        'content-encoding': coding,
      });
      expect(answer.status, `${coding}: ${answer.text}`).toBe(200);
      expect(await countOf(family)).toBe(2);
      const stored = await query(gateway, `SELECT s FROM ${family} WHERE n = 1`);
      expect(stored.body.results[0].s).toBe('été ✓');
      const raw = await query(gateway, `SELECT log FROM raw_logs WHERE family = '${family}' ORDER BY id LIMIT 1`);
      expect(raw.status, JSON.stringify(raw.body)).toBe(200);
      const copy: unknown = raw.body.results[0].log;
      expect(typeof copy === 'string' ? JSON.parse(copy) : copy).toEqual(logs[0]);
    }
  });

  it.each([['br'], ['compress'], ['zstd'], ['gzip, br']])('Content-Encoding: %s is 415 UNSUPPORTED_MEDIA_TYPE naming gzip and deflate', async (coding) => {
    const family = uniqueFamily('enc');
    // A plain body: an unknown coding is refused, not ignored.
    const answer = await put(gateway, ingestBody(family), { 'content-type': 'application/json', 'content-encoding': coding });
    expectRefused(answer, 415, 'UNSUPPORTED_MEDIA_TYPE');
    expect(answer.body.error.message).toMatch(/gzip/);
    await expectNothingWritten(family);
  });

  it('a body that is not valid gzip is 400 with a message that does not echo its bytes', async () => {
    const family = uniqueFamily('enc');
    const corrupt = gzipSync(Buffer.from(ingestBody(family)));
    corrupt.fill(0xff, 12, 30);
    const answer = await put(gateway, corrupt, { 'content-type': 'application/json', 'content-encoding': 'gzip' });
    expect(answer.status).toBe(400);
    expect(answer.body.error.code).toBe('BAD_USER_INPUT');
    expect(answer.body.error.message).toMatch(/gzip/);
    expect(answer.text).not.toContain('\ufffd');
    await expectNothingWritten(family);
  });

  it('the body limit applies to the decompressed size: a zip bomb is 413 PAYLOAD_TOO_LARGE', async () => {
    const family = uniqueFamily('bomb');
    // 64 MiB of spaces inside a valid JSON prefix: about 64 KiB compressed, 64 times the 1 MiB limit.
    const bomb = gzipSync(Buffer.concat([Buffer.from(`{"family":"${family}","schema":{"n":"int"},"logs":[{"n":1}]`), Buffer.alloc(64 * 1024 * 1024, 0x20), Buffer.from('}')]));
    expect(bomb.length).toBeLessThan(1024 * 1024);
    const answer = await put(small, bomb, { 'content-type': 'application/json', 'content-encoding': 'gzip' });
    expectRefused(answer, 413, 'PAYLOAD_TOO_LARGE');
    await expectNothingWritten(family);
    // A compressed body whose decompressed size is under the limit is fine on the same gateway.
    const fine = uniqueFamily('bomb');
    const ok = await put(small, gzipSync(Buffer.from(ingestBody(fine, [{ n: 1 }]) + ' '.repeat(900_000))), { 'content-encoding': 'gzip' });
    expect(ok.status, ok.text).toBe(200);
  });
});

describe('UTF-8 and JSON shape', () => {
  it('invalid UTF-8 is 400 INVALID_JSON, not stored as U+FFFD, and the message does not echo the bytes', async () => {
    const family = uniqueFamily('utf');
    const [head, tail] = ingestBody(family, [{ s: 'AB' }], { s: 'string' }).split('AB') as [string, string];
    for (const bad of [Buffer.from([0xff]), Buffer.from([0xc3]), Buffer.from([0xed, 0xa0, 0x80]), Buffer.from([0xf8, 0x88, 0x80, 0x80, 0x80])]) {
      const body = Buffer.concat([Buffer.from(`${head}A`), bad, Buffer.from(`B${tail}`)]);
      const answer = await put(gateway, body, { 'content-type': 'application/json' });
      expectRefused(answer, 400, 'INVALID_JSON');
      expect(answer.body.error.message).toMatch(/UTF-8/);
      expect(answer.text).not.toContain('\ufffd');
    }
    await expectNothingWritten(family);
  });

  it('a UTF-8 body with multi-byte characters is stored exactly', async () => {
    const family = uniqueFamily('utf');
    const s = 'ÄÖü € 𝄞 中文 🙂';
    const answer = await put(gateway, Buffer.from(ingestBody(family, [{ s }], { s: 'string' })), { 'content-type': 'application/json; charset=utf-8' });
    expect(answer.status, answer.text).toBe(200);
    const stored = await query(gateway, `SELECT s FROM ${family}`);
    expect(stored.body.results[0].s).toBe(s);
  });

  it('JSON nested deeper than body_max_depth (64) is 400 INVALID_JSON naming the limit; 64 levels pass', async () => {
    const family = uniqueFamily('deep');
    const nested = (levels: number): string => '['.repeat(levels) + ']'.repeat(levels);
    // {"family", "schema", "logs": [ {"doc": ... } ] }: 3 levels before doc's value, so 62 more make 65.
    const refused = await put(gateway, `{"family":"${family}","schema":{"doc":"json"},"logs":[{"doc":${nested(62)}}]}`, { 'content-type': 'application/json' });
    expectRefused(refused, 400, 'INVALID_JSON');
    expect(refused.body.error.message).toContain('64');
    expect(refused.body.error).toMatchObject({ limit: 64 });
    await expectNothingWritten(family);
    // 64 levels in all (1 + 63), brackets inside strings not counted: parsed, and the query runs.
    const fits = await fetch(`${gateway.url}/api/query`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: `{"query":"SELECT '${'[{'.repeat(100)}\\\"[' AS s","ignored":${nested(63)}}`,
    });
    const tooDeep = await fetch(`${gateway.url}/api/query`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: `{"query":"SELECT 1 AS one","ignored":${nested(64)}}`,
    });
    expect(fits.status, await fits.text()).toBe(200);
    expect(tooDeep.status).toBe(400);
    expect(((await tooDeep.json()) as { error: { code: string } }).error.code).toBe('INVALID_JSON');
    // A pathological body is refused the same way, not a 500.
    const huge = await put(gateway, '['.repeat(1_000_000), { 'content-type': 'application/json' });
    expectRefused(huge, 400, 'INVALID_JSON');
  });

  it('parse errors name what went wrong with at most a short, escaped excerpt, never raw control bytes', async () => {
    const family = uniqueFamily('perr');
    const cases = [
      `\u0001\u0002\u0003\u0000binary${'\u0007'.repeat(200)}{"family":"${family}"}`,
      `{"family":"${family}","logs":[{"n":1}], \u0000\u0001 ${'x'.repeat(5000)}}`,
      `{"family":"${family}","logs":[{"n":"a\u0000b"}]}`,
      `{"family":"${family}","logs":[{"n":1} ${'\u001b[31m'.repeat(50)}]}`,
    ];
    for (const body of cases) {
      const answer = await put(gateway, body, { 'content-type': 'application/json' });
      expectRefused(answer, 400, 'INVALID_JSON');
      const message: string = answer.body.error.message;
      expect(message).not.toMatch(/[\u0000-\u001f\u007f]/);
      expect(message.length).toBeLessThan(300);
      expect(message).toMatch(/send/);
    }
    await expectNothingWritten(family);
  });
});

describe('/readyz', () => {
  it('answers readiness per shard without server versions or addresses', async () => {
    const response = await fetch(`${gateway.url}/readyz`);
    expect(response.status).toBe(200);
    const body = (await response.json()) as { ready: boolean; shards: Array<Record<string, unknown>>; catalog: Record<string, unknown> };
    expect(body.ready).toBe(true);
    expect(body.shards.map((s) => s['name'])).toEqual(shards.map((s) => s.name));
    for (const shard of body.shards) expect(Object.keys(shard).sort()).toEqual(['error', 'name', 'reachable']);
    expect(Object.keys(body.catalog).sort()).toEqual(['error', 'reachable']);
    const text = JSON.stringify(body);
    expect(text).not.toMatch(/version|MariaDB|mysql/i);
    for (const spec of shards) expect(text).not.toContain(String(spec.port));
  });
});
