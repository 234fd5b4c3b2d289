/**
 * GraphQL API end to end through the generated SDK (sdk/) against a real
 * gateway and three real shards: every operation, bad input answered with
 * the same code and message as REST, and the Sandbox page.
 */
import { createHash } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { createClient, DatabalancerError, type DatabalancerClient } from '../../sdk/index.js';
import { api, onShard, startGateway, tableExists, uniqueFamily, type TestGateway } from './helpers/gateway.js';
import { failure } from './helpers/sdk-failure.js';

const shards = inject('shards');
let gateway: TestGateway;
let client: DatabalancerClient;

beforeAll(async () => {
  gateway = await startGateway(shards);
  client = createClient({ url: `${gateway.url}/graphql` });
});
afterAll(async () => {
  await gateway?.close();
});

/** The GraphQL error must carry REST's code and message for the same input. */
async function expectSameAsRest(graphql: Promise<unknown>, rest: Promise<{ status: number; body: { error: { code: string; message: string } } }>, code: string): Promise<DatabalancerError> {
  const [error, response] = await Promise.all([failure(graphql), rest]);
  expect(error.code).toBe(code);
  expect(response.body.error.code).toBe(code);
  expect(response.status).toBeGreaterThanOrEqual(400);
  expect(error.message).toBe(response.body.error.message);
  // Errors are data: the details REST spreads into the envelope are extensions here.
  const { code: _code, message: _message, ...details } = response.body.error;
  expect(error.extensions).toMatchObject(details);
  return error;
}

const dogSchema = { name: 'string', breed: 'string', weight: 'int' };
const dogs = [
  { name: 'spot', breed: 'labrador', weight: 100 },
  { name: 'max', breed: 'chihuahua', weight: 3 },
  { name: 'sprinkle', breed: 'pitbull', weight: 50 },
];

describe('GraphQL operations through the SDK', () => {
  const family = uniqueFamily('gql_dogs');
  let shard = '';

  it('ingestLogs writes the events on one shard and returns the columns', async () => {
    const result = await client.ingestLogs({ family, schema: dogSchema, logs: dogs });
    expect(result).toMatchObject({ family, ingested: 3, replayed: false });
    expect(result.columns.map((c) => [c.name, c.type, c.nullable, c.declaredType])).toEqual([
      ['id', 'bigint', false, 'int'],
      ['name', 'text', true, 'string'],
      ['breed', 'text', true, 'string'],
      ['weight', 'bigint', true, 'int'],
    ]);
    shard = result.shard;
    const holder = shards.find((s) => s.name === shard);
    expect(holder).toBeDefined();
    expect(await tableExists(holder!, family)).toBe(true);
    const rows = await onShard(holder!, `SELECT name, weight FROM \`${family}\` ORDER BY id`);
    expect(rows).toEqual([
      { name: 'spot', weight: 100 },
      { name: 'max', weight: 3 },
      { name: 'sprinkle', weight: 50 },
    ]);
  });

  it('ingestLogs with an idempotencyKey replays instead of writing twice', async () => {
    const key = `key-${family}`;
    const first = await client.ingestLogs({ family, schema: dogSchema, logs: [dogs[0]!], idempotencyKey: key });
    const again = await client.ingestLogs({ family, schema: dogSchema, logs: [dogs[0]!], idempotencyKey: key });
    expect(first.replayed).toBe(false);
    expect(again).toMatchObject({ family, ingested: 1, shard, replayed: true });
    const count = await client.rawQuery(`SELECT COUNT(*) AS n FROM ${family}`);
    expect(count.results).toEqual([{ n: 4 }]);
  });

  it('rawQuery returns typed rows, columns in order, the shards and the time', async () => {
    const result = await client.rawQuery(`SELECT name, weight FROM ${family} WHERE weight > 10 ORDER BY weight DESC, id`);
    expect(result.results).toEqual([
      { name: 'spot', weight: 100 },
      { name: 'spot', weight: 100 },
      { name: 'sprinkle', weight: 50 },
    ]);
    expect(result.columns.map((c) => c.name)).toEqual(['name', 'weight']);
    expect(result.columns.map((c) => c.type)).toEqual(['text', 'bigint']);
    expect(result.shards).toEqual([shard]);
    expect(result.truncated).toBe(false);
    expect(result.elapsedMs).toBeGreaterThanOrEqual(0);
    // Same rows as REST.
    const rest = await api(gateway, 'POST', '/api/query', { query: `SELECT name, weight FROM ${family} WHERE weight > 10 ORDER BY weight DESC, id` });
    expect(rest.body.results).toEqual(result.results);
  });

  it('rawQuery names its answer by the SQL text: the same text, the same id, and the columns by position', async () => {
    const sql = `SELECT name, weight FROM ${family} ORDER BY id LIMIT 1`;
    const document = 'query Raw($sql: String!) { rawQuery(query: $sql) { id columns { id name } } }';
    const ask = async (text: string): Promise<{ id: string; columns: Array<{ id: string; name: string }> }> => {
      const response = await api(gateway, 'POST', '/graphql', { query: document, variables: { sql: text } });
      expect(response.body.errors).toBeUndefined();
      return response.body.data.rawQuery;
    };
    const first = await ask(sql);
    expect(first.id).toBe(`sql:${createHash('sha256').update(sql).digest('hex').slice(0, 32)}`);
    expect(first.columns).toEqual([
      { id: `${first.id}.0`, name: 'name' },
      { id: `${first.id}.1`, name: 'weight' },
    ]);
    expect((await ask(sql)).id).toBe(first.id);
    expect((await ask(`${sql} `)).id).not.toBe(first.id);
    // Without id selected the answer is the same rows.
    const plain = await api(gateway, 'POST', '/graphql', { query: 'query Raw($sql: String!) { rawQuery(query: $sql) { results } }', variables: { sql } });
    expect(plain.body.data.rawQuery.results).toEqual([{ name: 'spot', weight: 100 }]);
  });

  it('describe lists the table with the seed keys and its shard', async () => {
    const result = await client.describe();
    const table = result.tables.find((t) => t.name === family);
    expect(table).toMatchObject({ name: family, shard });
    expect(table!.columns.map(({ name, nullable, type }) => ({ name, nullable, type }))).toEqual([
      { name: 'id', nullable: false, type: 'bigint' },
      { name: 'name', nullable: true, type: 'text' },
      { name: 'breed', nullable: true, type: 'text' },
      { name: 'weight', nullable: true, type: 'bigint' },
    ]);
  });

  it('families and family(name) give placement, columns, row estimate and retention', async () => {
    const all = await client.families();
    const listed = all.find((f) => f.name === family);
    expect(listed).toMatchObject({ name: family, shard, retention: { family, retentionSeconds: null } });
    expect(all.map((f) => f.name)).toEqual([...all.map((f) => f.name)].sort());
    const one = await client.family(family).get();
    expect(one).toMatchObject({ name: family, shard });
    expect(one.columns.map((c) => c.name)).toEqual(['id', 'name', 'breed', 'weight']);
    expect(typeof one.rowEstimate).toBe('number');
    expect(new Date(one.createdAt).getTime()).toBeGreaterThan(Date.now() - 3_600_000);
  });

  it('family(name).rows returns the rows as JSON objects', async () => {
    const page = await client.family(family).rows({ where: { field: 'breed', eq: 'chihuahua' } });
    expect(page).toMatchObject({ limit: 100, offset: 0, hasMore: false, shard });
    expect(page.rows).toEqual([{ id: expect.any(Number), name: 'max', breed: 'chihuahua', weight: 3 }]);
  });

  it('shards lists every shard, reachable, with its families and no credentials', async () => {
    const result = await client.shards();
    expect(result.map((s) => s.name).sort()).toEqual(shards.map((s) => s.name).sort());
    for (const s of result) {
      const spec = shards.find((x) => x.name === s.name)!;
      expect(s.reachable).toBe(true);
      expect(s.error).toBeNull();
      expect(s.version).toEqual(expect.any(String));
      expect(s.address).toBe(`${spec.host}:${spec.port}`);
      expect(s.address).not.toContain('@');
      expect(s.families.includes(family)).toBe(s.name === shard);
    }
  });

  it('setRetention, clearRetention and purgeLogs call the retention service', async () => {
    expect(await client.setRetention(family, '7d')).toEqual({ family, retentionSeconds: 604800 });
    expect((await client.family(family).get()).retention.retentionSeconds).toBe(604800);
    const rest = await api(gateway, 'GET', `/api/families/${family}/retention`);
    expect(rest.body).toEqual({ family, retentionSeconds: 604800 });
    expect(await client.clearRetention(family)).toEqual({ family, retentionSeconds: null });
    // Wait past the microsecond the rows were written in, then purge everything before now.
    await new Promise((resolve) => setTimeout(resolve, 20));
    const purged = await client.purgeLogs(family, new Date().toISOString());
    expect(purged).toMatchObject({ family, deleted: 4, deletedRaw: 4 });
    expect(purged.before).toMatch(/^\d{4}-\d{2}-\d{2}T/);
    expect((await client.family(family).rows()).rows).toEqual([]);
  });
});

describe('GraphQL errors carry the REST code and message', () => {
  const family = uniqueFamily('gql_err');

  beforeAll(async () => {
    await client.ingestLogs({ family, schema: dogSchema, logs: dogs });
  });

  const restIngest = (body: unknown) => api(gateway, 'PUT', '/api/log', body);

  it('INVALID_VALUE, with the event index and field in extensions', async () => {
    const logs = [{ name: 'rex', weight: 'heavy' }];
    const error = await expectSameAsRest(client.ingestLogs({ family, schema: dogSchema, logs }), restIngest({ family, schema: dogSchema, logs }), 'INVALID_VALUE');
    expect(error.extensions).toMatchObject({ index: 0, field: 'weight' });
  });

  it('SCHEMA_CONFLICT', async () => {
    const schema = { ...dogSchema, weight: 'string' };
    const logs = [{ name: 'rex', weight: 'heavy' }];
    await expectSameAsRest(client.ingestLogs({ family, schema, logs }), restIngest({ family, schema, logs }), 'SCHEMA_CONFLICT');
  });

  it('INVALID_FAMILY_NAME, INVALID_SCHEMA and UNDECLARED_FIELD', async () => {
    const bad = { family: 'not a name!', schema: dogSchema, logs: dogs };
    await expectSameAsRest(client.ingestLogs(bad), restIngest(bad), 'INVALID_FAMILY_NAME');
    const badType = { family, schema: { name: 'varchar' }, logs: [{ name: 'x' }] };
    await expectSameAsRest(client.ingestLogs(badType), restIngest(badType), 'INVALID_SCHEMA');
    const undeclared = { family, schema: dogSchema, logs: [{ name: 'x', colour: 'red' }] };
    await expectSameAsRest(client.ingestLogs(undeclared), restIngest(undeclared), 'UNDECLARED_FIELD');
  });

  it('QUERY_NOT_READ_ONLY, QUERY_PARSE_FAILED and TABLE_NOT_FOUND', async () => {
    for (const [sql, code] of [
      [`DELETE FROM ${family}`, 'QUERY_NOT_READ_ONLY'],
      ['SELECT * FROM (', 'QUERY_PARSE_FAILED'],
      [`SELECT * FROM ${uniqueFamily('missing')}`, 'TABLE_NOT_FOUND'],
      [`SELECT SLEEP(1) FROM ${family}`, 'QUERY_NOT_READ_ONLY'],
    ] as const) {
      await expectSameAsRest(client.rawQuery(sql), api(gateway, 'POST', '/api/query', { query: sql }), code);
    }
    // Nothing was deleted.
    expect((await client.rawQuery(`SELECT COUNT(*) AS n FROM ${family}`)).results).toEqual([{ n: 3 }]);
  });

  it('FAMILY_NOT_FOUND and INVALID_TIME from the family and retention operations', async () => {
    const missing = uniqueFamily('missing');
    await expectSameAsRest(client.family(missing).get(), api(gateway, 'GET', `/api/families/${missing}/retention`), 'FAMILY_NOT_FOUND');
    await expectSameAsRest(client.family(missing).rows(), api(gateway, 'GET', `/api/families/${missing}/retention`), 'FAMILY_NOT_FOUND');
    await expectSameAsRest(client.setRetention(missing, '7d'), api(gateway, 'PUT', `/api/families/${missing}/retention`, { retention: '7d' }), 'FAMILY_NOT_FOUND');
    await expectSameAsRest(client.clearRetention(missing), api(gateway, 'DELETE', `/api/families/${missing}/retention`), 'FAMILY_NOT_FOUND');
    await expectSameAsRest(client.setRetention(family, 'soon'), api(gateway, 'PUT', `/api/families/${family}/retention`, { retention: 'soon' }), 'INVALID_TIME');
    await expectSameAsRest(client.purgeLogs(family, 'yesterday-ish'), api(gateway, 'DELETE', `/api/log/${family}?before=yesterday-ish`), 'INVALID_TIME');
    await expectSameAsRest(client.purgeLogs(missing, '1700000000'), api(gateway, 'DELETE', `/api/log/${missing}?before=1700000000`), 'FAMILY_NOT_FOUND');
  });

  it('resolver errors keep HTTP 200 and a path; schema violations keep Apollo codes', async () => {
    const error = await failure(client.rawQuery('DROP TABLE raw_logs'));
    expect(error.status).toBe(200);
    expect(error.errors[0]?.path).toEqual(['rawQuery']);
    expect(error.extensions['stacktrace']).toBeUndefined();

    const response = await fetch(`${gateway.url}/graphql`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ query: '{ describe { tables { nope } } }' }),
    });
    // fetch accepts */*: an application/json answer, 200 as GraphQL over HTTP recommends (graphql-clients.test.ts has the rule).
    expect(response.status).toBe(200);
    const body = (await response.json()) as { errors: Array<{ extensions: { code: string } }> };
    expect(body.errors[0]?.extensions.code).toBe('GRAPHQL_VALIDATION_FAILED');

    // A variable of the wrong type is Apollo's BAD_USER_INPUT.
    const coercion = await fetch(`${gateway.url}/graphql`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ query: 'query($l: Int) { family(name: "x") { rows(limit: $l) { hasMore } } }', variables: { l: 'ten' } }),
    });
    const coercionBody = (await coercion.json()) as { errors: Array<{ extensions: { code: string } }> };
    expect(coercionBody.errors[0]?.extensions.code).toBe('BAD_USER_INPUT');
  });
});

describe('GET /graphql', () => {
  it('serves the Apollo Sandbox page to browsers outside production', async () => {
    const response = await fetch(`${gateway.url}/graphql`, { headers: { accept: 'text/html' } });
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toContain('text/html');
    const html = await response.text();
    expect(html.toLowerCase()).toContain('sandbox');
  });
});
