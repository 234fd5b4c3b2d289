/**
 * Every string the gateway writes comes back byte for byte: values with
 * quotes, backslashes, control characters and non-ASCII text, in string and
 * json fields, in the family table and in raw_logs (read directly on the shard).
 */
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { ingest, onShard, specNamed, startGateway, uniqueFamily, type TestGateway } from './helpers/gateway.js';

const shards = inject('shards');
let gateway: TestGateway;

beforeAll(async () => {
  gateway = await startGateway(shards);
});
afterAll(async () => {
  await gateway.close();
});

describe('value round trip', () => {
  it('stores 500 adversarial strings exactly, typed and raw', async () => {
    const alphabet = ["'", '"', '\\', '\0', '\n', '\r', '\x1a', '\t', '\b', '`', ';', '?', '%', '_', 'a', 'Z', 'é', 'ß', '中', '😀', '\\n', "\\'", '--', '/*'];
    let seed = 11;
    const random = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
    const texts = Array.from({ length: 500 }, () =>
      Array.from({ length: 1 + Math.floor(random() * 16) }, () => alphabet[Math.floor(random() * alphabet.length)]).join(''),
    );
    const family = uniqueFamily('roundtrip');
    const logs = texts.map((text, i) => ({ i, text, doc: { text, list: [text, i] } }));
    const answer = await ingest(gateway, family, { i: 'int', text: 'string', doc: 'json' }, logs);
    expect(answer.status, JSON.stringify(answer.body)).toBe(200);
    const home = specNamed(shards, String(answer.body.shard));

    const rows = await onShard<{ i: number; text: string; doc: unknown }>(home, `SELECT i, text, doc FROM \`${family}\` ORDER BY i`);
    expect(rows.map((r) => r.text)).toEqual(texts);
    expect(rows.map((r) => (typeof r.doc === 'string' ? JSON.parse(r.doc) : r.doc))).toEqual(logs.map((l) => l.doc));

    const raw = await onShard<{ log: unknown }>(home, 'SELECT log FROM raw_logs WHERE family = ? ORDER BY id', [family]);
    expect(raw.map((r) => (typeof r.log === 'string' ? JSON.parse(r.log) : r.log))).toEqual(logs);
  });
});
