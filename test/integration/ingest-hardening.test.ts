/**
 * Ingest hardening: requests that must be refused with a clear 400/422 and
 * leave nothing behind anywhere, the catalog included. Engine-provided
 * tables (MariaDB's Sequence engine) and views are not families; field
 * names mysql2 cannot read back are refused; duplicate JSON keys are
 * refused; very deep JSON is a 400, not a 500; an Idempotency-Key reused for
 * another request is 422.
 */
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { api, ingest, onShard, query, snapshotFamily, startGateway, uniqueFamily, type TestGateway } from './helpers/gateway.js';

const shards = inject('shards');
let gateway: TestGateway;

beforeAll(async () => {
  gateway = await startGateway(shards);
});
afterAll(async () => {
  await gateway.close();
});

/** Nothing of `family` anywhere: no table, row, raw copy, key, placement or declared field. */
async function expectNothingOf(family: string): Promise<void> {
  const snapshot = await snapshotFamily(shards, family);
  expect(snapshot.placements).toEqual([]);
  expect(snapshot.declared).toEqual([]);
  for (const spec of shards) {
    expect(snapshot.rawLogs[spec.name]).toBe(0);
    expect(snapshot.idempotencyKeys[spec.name]).toBe(0);
  }
}

/** PUT /api/log with the body given as text, exactly as sent. */
function putText(text: string, headers: Record<string, string> = {}) {
  return api(gateway, 'PUT', '/api/log', text, headers);
}

/** A GraphQL request; answers { status, body }. */
function graphql(queryText: string, variables: Record<string, unknown>) {
  return api(gateway, 'POST', '/graphql', { query: queryText, variables });
}

const INGEST_MUTATION = `mutation($family: String!, $schema: JSONObject!, $logs: [JSONObject!]!) {
  ingestLogs(family: $family, schema: $schema, logs: $logs) { family ingested }
}`;

describe('names the server resolves without a base table', () => {
  it.each(['seq_1_to_1000', 'SEQ_1_To_5', 'seq_0_to_10_step_2'])('%s is 400 INVALID_FAMILY_NAME and leaves no catalog row', async (family) => {
    const answer = await ingest(gateway, family, { seq: 'int' }, [{ seq: 1 }]);
    expect(answer.status, JSON.stringify(answer.body)).toBe(400);
    expect(answer.body.error.code).toBe('INVALID_FAMILY_NAME');
    expect(answer.body.error.message).toMatch(/Sequence|engine/i);
    await expectNothingOf(family);
    // Not a family: describe does not list it and queries refuse it.
    const described = await api(gateway, 'GET', '/api/describe');
    expect(described.body.tables.map((t: { name: string }) => t.name)).not.toContain(family);
    const read = await query(gateway, `SELECT COUNT(*) AS c FROM ${family}`);
    expect(read.status).toBeGreaterThanOrEqual(400);
    expect(read.status).toBeLessThan(500);
  });

  it('a name that is a view on the shard is 400 INVALID_FAMILY_NAME, and the view is untouched', async () => {
    const family = uniqueFamily('view');
    await Promise.all(
      shards.map(async (spec) => {
        await onShard(spec, 'CREATE DATABASE IF NOT EXISTS databalancer', [], null);
        await onShard(spec, `CREATE VIEW \`${family}\` AS SELECT 1 AS n`);
      }),
    );
    try {
      const answer = await ingest(gateway, family, { n: 'int' }, [{ n: 1 }]);
      expect(answer.status, JSON.stringify(answer.body)).toBe(400);
      expect(answer.body.error.code).toBe('INVALID_FAMILY_NAME');
      expect(answer.body.error.message).toMatch(/not a table|view/i);
      await expectNothingOf(family);
      for (const spec of shards) expect(await onShard(spec, `SELECT n FROM \`${family}\``)).toEqual([{ n: 1 }]);
    } finally {
      await Promise.all(shards.map((spec) => onShard(spec, `DROP VIEW IF EXISTS \`${family}\``)));
    }
  });
});

describe('field names mysql2 cannot read back', () => {
  const refused = ['__proto__', '__defineGetter__', '__defineSetter__', '__lookupGetter__', '__lookupSetter__', '__PROTO__'];

  it.each(refused)('REST: %s is 400 INVALID_FIELD_NAME saying why, and writes nothing', async (name) => {
    const family = uniqueFamily('proto');
    const text = `{"family":"${family}","schema":{"${name}":"int"},"logs":[{"${name}":1}]}`;
    const answer = await putText(text);
    expect(answer.status, JSON.stringify(answer.body)).toBe(400);
    expect(answer.body.error.code).toBe('INVALID_FIELD_NAME');
    expect(answer.body.error.message).toMatch(/result|read/i);
    await expectNothingOf(family);
  });

  it('GraphQL: __proto__ is INVALID_FIELD_NAME too', async () => {
    const family = uniqueFamily('gproto');
    const schema = JSON.parse('{"__defineGetter__":"int"}') as Record<string, unknown>;
    const answer = await graphql(INGEST_MUTATION, { family, schema, logs: [JSON.parse('{"__defineGetter__":1}')] });
    expect(answer.body.errors?.[0]?.extensions?.code, JSON.stringify(answer.body)).toBe('INVALID_FIELD_NAME');
    await expectNothingOf(family);
  });

  it('constructor and prototype are ordinary field names: stored and read back', async () => {
    const family = uniqueFamily('ctor');
    const written = await ingest(gateway, family, { constructor: 'string', prototype: 'int' }, [{ constructor: 'c', prototype: 2 }]);
    expect(written.status, JSON.stringify(written.body)).toBe(200);
    const read = await query(gateway, `SELECT constructor, prototype FROM ${family}`);
    expect(read.status, JSON.stringify(read.body)).toBe(200);
    expect(read.body.results).toEqual([{ constructor: 'c', prototype: 2 }]);
  });
});

describe('duplicate JSON keys', () => {
  it('in an event: 400 INVALID_JSON naming the event and the key; nothing written', async () => {
    const family = uniqueFamily('dupkey');
    const text = `{"family":"${family}","schema":{"n":"int"},"logs":[{"n":1},{"n":"bad","n":2}]}`;
    const answer = await putText(text);
    expect(answer.status, JSON.stringify(answer.body)).toBe(400);
    expect(answer.body.error).toMatchObject({ code: 'INVALID_JSON', index: 1, key: 'n' });
    expect(answer.body.error.message).toMatch(/event 1/);
    await expectNothingOf(family);
  });

  it('a key written with escapes is the same key; nested objects count too', async () => {
    const family = uniqueFamily('dupesc');
    const escaped = await putText(`{"family":"${family}","schema":{"n":"int"},"logs":[{"n":1,"\\u006e":2}]}`);
    expect(escaped.status, JSON.stringify(escaped.body)).toBe(400);
    expect(escaped.body.error).toMatchObject({ code: 'INVALID_JSON', index: 0, key: 'n' });
    const nested = await putText(`{"family":"${family}","schema":{"j":"json"},"logs":[{"j":{"a":[{"x":1,"y":2,"x":3}]}}]}`);
    expect(nested.status, JSON.stringify(nested.body)).toBe(400);
    expect(nested.body.error).toMatchObject({ code: 'INVALID_JSON', index: 0, key: 'x' });
    await expectNothingOf(family);
  });

  it.each([
    ['family', (f: string) => `{"family":"other","family":"${f}","schema":{"n":"int"},"logs":[{"n":1}]}`],
    ['schema', (f: string) => `{"family":"${f}","schema":{"n":"int"},"schema":{"n":"int"},"logs":[{"n":1}]}`],
    ['logs', (f: string) => `{"family":"${f}","schema":{"n":"int"},"logs":[{"n":1}],"logs":[{"n":2}]}`],
    ['n', (f: string) => `{"family":"${f}","schema":{"n":"string","n":"int"},"logs":[{"n":1}]}`],
  ])('in the request envelope (%s): 400 INVALID_JSON naming the key; nothing written', async (key, body) => {
    const family = uniqueFamily('dupenv');
    const answer = await putText(body(family));
    expect(answer.status, JSON.stringify(answer.body)).toBe(400);
    expect(answer.body.error).toMatchObject({ code: 'INVALID_JSON', key });
    await expectNothingOf(family);
  });

  it('distinct keys in sibling objects are fine, and the raw copy is the sent text', async () => {
    const family = uniqueFamily('dupok');
    const text = `{"family":"${family}","schema":{"n":"int","j":"json"},"logs":[{"n":1,"j":{"n":1,"m":{"n":2}}},{"n":2,"j":[{"n":1},{"n":2}]}]}`;
    const answer = await putText(text);
    expect(answer.status, JSON.stringify(answer.body)).toBe(200);
    const raw = await query(gateway, `SELECT JSON_VALUE(log, '$.n') AS n FROM raw_logs WHERE family = '${family}' ORDER BY id`);
    expect(raw.body.results).toEqual([{ n: '1' }, { n: '2' }]);
  });
});

describe('deep JSON', () => {
  // The HTTP layer bounds a body's nesting (--body_max_depth, at most 10,000):
  // raised here so that deep values reach the ingest service.
  let deepGateway: TestGateway;
  beforeAll(async () => {
    deepGateway = await startGateway(shards, ['--body_max_depth=10000']);
  });
  afterAll(async () => {
    await deepGateway.close();
  });

  it.each([
    ['json', 5000],
    ['json', 9000],
    ['string', 9000],
  ])('a %s field given a value nested %i deep is 400 INVALID_VALUE, not 500', async (type, depth) => {
    const family = uniqueFamily('deep');
    const deep = `${'['.repeat(depth)}1${']'.repeat(depth)}`;
    const answer = await api(deepGateway, 'PUT', '/api/log', `{"family":"${family}","schema":{"j":"${type}"},"logs":[{"j":${deep}}]}`);
    expect(answer.status, JSON.stringify(answer.body).slice(0, 500)).toBe(400);
    expect(answer.body.error).toMatchObject({ code: 'INVALID_VALUE', index: 0, field: 'j' });
    if (type === 'json') expect(answer.body.error.message).toMatch(/30 levels/);
    expect(JSON.stringify(answer.body).length).toBeLessThan(2000);
    await expectNothingOf(family);
  });

  it('GraphQL: a json value nested 5000 deep is INVALID_VALUE too', async () => {
    const family = uniqueFamily('gdeep');
    const deep = `${'['.repeat(5000)}1${']'.repeat(5000)}`;
    const text = `{"query":${JSON.stringify(INGEST_MUTATION)},"variables":{"family":"${family}","schema":{"j":"json"},"logs":[{"j":${deep}}]}}`;
    const answer = await api(deepGateway, 'POST', '/graphql', text);
    expect(answer.status).toBeLessThan(500);
    expect(answer.body.errors?.[0]?.extensions?.code, JSON.stringify(answer.body).slice(0, 500)).toBe('INVALID_VALUE');
    await expectNothingOf(family);
  });

  it('an undeclared, deeply nested field is 400 too', async () => {
    const family = uniqueFamily('deepund');
    const deep = `${'{"a":'.repeat(5000)}1${'}'.repeat(5000)}`;
    const answer = await api(deepGateway, 'PUT', '/api/log', `{"family":"${family}","schema":{"n":"int"},"logs":[{"n":1,"x":${deep}}]}`);
    expect(answer.status, JSON.stringify(answer.body).slice(0, 500)).toBe(400);
    await expectNothingOf(family);
  });

  it('30 levels are stored', async () => {
    const family = uniqueFamily('deep30');
    const deep = `${'['.repeat(30)}1${']'.repeat(30)}`;
    const answer = await putText(`{"family":"${family}","schema":{"j":"json"},"logs":[{"j":${deep}}]}`);
    expect(answer.status, JSON.stringify(answer.body)).toBe(200);
  });
});

describe('Idempotency-Key reused', () => {
  it('with another body is 422 IDEMPOTENCY_KEY_REUSED and writes nothing; the same body replays', async () => {
    const family = uniqueFamily('reuse');
    const key = { 'Idempotency-Key': `k-${family}` };
    const first = await ingest(gateway, family, { n: 'int' }, [{ n: 1 }, { n: 2 }], key);
    expect(first.status).toBe(200);
    const before = await snapshotFamily(shards, family);

    const other = await ingest(gateway, family, { n: 'int' }, [{ n: 3 }], key);
    expect(other.status, JSON.stringify(other.body)).toBe(422);
    expect(other.body.error.code).toBe('IDEMPOTENCY_KEY_REUSED');
    expect(other.body.error.message).toMatch(/new key|different/i);
    const otherSchema = await ingest(gateway, family, { n: 'int', m: 'string' }, [{ n: 1 }, { n: 2 }], key);
    expect(otherSchema.status).toBe(422);
    expect(await snapshotFamily(shards, family)).toEqual(before);

    const same = await ingest(gateway, family, { n: 'int' }, [{ n: 1 }, { n: 2 }], key);
    expect(same.status).toBe(200);
    expect(same.body).toMatchObject({ ingested: 2, replayed: true });
    expect(await snapshotFamily(shards, family)).toEqual(before);
  });

  it('concurrent requests with one key and different bodies: one applies, the others are 422 or replays of the same body', async () => {
    const family = uniqueFamily('reuserace');
    const key = { 'Idempotency-Key': `k-${family}` };
    const answers = await Promise.all(Array.from({ length: 6 }, (_, i) => ingest(gateway, family, { n: 'int' }, [{ n: i % 2 }], key)));
    const applied = answers.filter((a) => a.status === 200 && a.body.replayed === false);
    expect(applied).toHaveLength(1);
    for (const answer of answers) expect([200, 422]).toContain(answer.status);
    const snapshot = await snapshotFamily(shards, family);
    expect(Object.values(snapshot.rows).reduce((a, b) => a + b, 0)).toBe(1);
  });

  it('a key recorded before the request hash existed (NULL hash) still replays', async () => {
    const family = uniqueFamily('reuseold');
    const key = `k-${family}`;
    const first = await ingest(gateway, family, { n: 'int' }, [{ n: 1 }], { 'Idempotency-Key': key });
    const home = shards.find((s) => s.name === first.body.shard)!;
    await onShard(home, 'UPDATE databalancer_idempotency SET request_hash = NULL WHERE family = ? AND idem_key = ?', [family, key]);
    const again = await ingest(gateway, family, { n: 'int' }, [{ n: 5 }], { 'Idempotency-Key': key });
    expect(again.status).toBe(200);
    expect(again.body.replayed).toBe(true);
  });
});
