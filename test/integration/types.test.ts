/**
 * Every declared type and alias (README, "Declared types") round-trips through
 * PUT /api/log and POST /api/query, with the column type checked on the shard
 * and the osquery-style coercions of numeric strings.
 */
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { api, ingest, onShard, query, specNamed, startGateway, uniqueFamily, TEST_DATABASE, type TestGateway } from './helpers/gateway.js';

const shards = inject('shards');
let gateway: TestGateway;

beforeAll(async () => {
  gateway = await startGateway(shards);
});
afterAll(async () => {
  await gateway.close();
});

/** declared type (or alias) -> the MySQL DATA_TYPE of its column. */
const ALIASES: Record<string, string[]> = {
  string: ['string', 'text'],
  int: ['int', 'integer', 'bigint', 'long'],
  float: ['float', 'double', 'number', 'real'],
  bool: ['bool', 'boolean'],
  timestamp: ['timestamp', 'datetime', 'time'],
  date: ['date'],
  json: ['json', 'object', 'array'],
};

async function columnTypes(family: string, shard: string): Promise<Map<string, string>> {
  const rows = await onShard<{ name: string; type: string }>(
    specNamed(shards, shard),
    'SELECT COLUMN_NAME AS name, COLUMN_TYPE AS type FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ?',
    [TEST_DATABASE, family],
    null,
  );
  return new Map(rows.map((r) => [r.name, r.type.toLowerCase()]));
}

describe('declared types', () => {
  it('every type and alias creates the right column and round-trips its value', async () => {
    const family = uniqueFamily('types');
    const schema: Record<string, string> = {};
    for (const aliases of Object.values(ALIASES)) for (const alias of aliases) schema[`f_${alias}`] = alias;
    const event = {
      f_string: 'héllo "world" 🐕',
      f_text: 'x'.repeat(60_000),
      f_int: 42,
      f_integer: -7,
      f_bigint: '9223372036854775807',
      f_long: '-9223372036854775808',
      f_float: 1.5,
      f_double: -0.25,
      f_number: 1e300,
      f_real: 3,
      f_bool: true,
      f_boolean: false,
      f_timestamp: '2024-01-02T03:04:05.123456+02:00',
      f_datetime: 1700000000,
      f_time: '2024-02-29T23:59:59Z',
      f_date: '2024-02-29',
      f_json: { a: 1, b: [1, 2, { c: null }], s: 'x' },
      f_object: { nested: { deep: true } },
      f_array: [1, 'two', null, { three: 3 }],
    };
    const answer = await ingest(gateway, family, schema, [event, {}]);
    expect(answer.body).toMatchObject({ ingested: 2 });
    expect(answer.status).toBe(200);
    expect(answer.body.ingested).toBe(2);

    const types = await columnTypes(family, answer.body.shard);
    const expectColumn = (field: string, allowed: string[]): void => {
      expect(allowed, `${field} is ${types.get(field)}`).toContain(types.get(field));
    };
    for (const alias of ALIASES.string ?? []) expectColumn(`f_${alias}`, ['text']);
    for (const alias of ALIASES.int ?? []) expectColumn(`f_${alias}`, ['bigint(20)', 'bigint']);
    for (const alias of ALIASES.float ?? []) expectColumn(`f_${alias}`, ['double']);
    for (const alias of ALIASES.bool ?? []) expectColumn(`f_${alias}`, ['tinyint(1)']);
    for (const alias of ALIASES.timestamp ?? []) expectColumn(`f_${alias}`, ['datetime(6)']);
    expectColumn('f_date', ['date']);
    // MariaDB stores JSON as LONGTEXT with a JSON_VALID check; MySQL has a real JSON type.
    for (const alias of ALIASES.json ?? []) expectColumn(`f_${alias}`, ['longtext', 'json']);

    const result = await query(gateway, `SELECT * FROM ${family} ORDER BY id`);
    expect(result.status).toBe(200);
    const [row, empty] = result.body.results as Array<Record<string, unknown>>;
    expect(typeof row?.['id']).toBe('number');
    expect({ ...row, id: 0 }).toEqual({
      id: 0,
      f_string: 'héllo "world" 🐕',
      f_text: 'x'.repeat(60_000),
      f_int: 42,
      f_integer: -7,
      f_bigint: '9223372036854775807',
      f_long: '-9223372036854775808',
      f_float: 1.5,
      f_double: -0.25,
      f_number: 1e300,
      f_real: 3,
      f_bool: true,
      f_boolean: false,
      f_timestamp: '2024-01-02T01:04:05.123456Z',
      f_datetime: '2023-11-14T22:13:20.000000Z',
      f_time: '2024-02-29T23:59:59.000000Z',
      f_date: '2024-02-29',
      f_json: { a: 1, b: [1, 2, { c: null }], s: 'x' },
      f_object: { nested: { deep: true } },
      f_array: [1, 'two', null, { three: 3 }],
    });
    // Missing fields store NULL.
    for (const [key, value] of Object.entries(empty ?? {})) if (key !== 'id') expect(value, key).toBeNull();

    // The raw copy is the event as sent.
    const raw = await onShard<{ log: unknown }>(specNamed(shards, answer.body.shard), 'SELECT log FROM raw_logs WHERE family = ? ORDER BY id LIMIT 1', [family]);
    const log = raw[0]?.log;
    expect(typeof log === 'string' ? JSON.parse(log) : log).toEqual(event);
  });

  it('a json value nested as deep as allowed (30 levels; its event in raw_logs is one deeper) is stored in the family table and in raw_logs, one level more is a 400', async () => {
    const family = uniqueFamily('deepjson');
    let doc: unknown = 1;
    for (let i = 0; i < 30; i++) doc = i % 2 === 0 ? [doc] : { k: doc };
    const tooDeep = await ingest(gateway, family, { doc: 'json' }, [{ doc: [doc] }]);
    expect(tooDeep.status).toBe(400);
    expect(tooDeep.body.error.code).toBe('INVALID_VALUE');
    const answer = await ingest(gateway, family, { doc: 'json' }, [{ doc }]);
    expect(answer.status, JSON.stringify(answer.body)).toBe(200);
    const home = specNamed(shards, answer.body.shard);
    const typed = await onShard<{ doc: string }>(home, `SELECT CONCAT(doc, '') AS doc FROM \`${family}\``);
    expect(JSON.parse(typed[0]?.doc ?? 'null')).toEqual(doc);
    const raw = await onShard<{ log: string }>(home, "SELECT CAST(log AS CHAR) AS log FROM raw_logs WHERE family = ?", [family]);
    expect(JSON.parse(raw[0]?.log ?? 'null')).toEqual({ doc });
  });

  it("raw_logs keeps each event's JSON text as sent: pretty-printed, with numbers JavaScript cannot hold exactly", async () => {
    const family = uniqueFamily('rawtext');
    const events = ['{\n    "n": 1,\n    "doc": {"big": 12345678901234567890, "f": 1.10}\n  }', '{"n":2,"doc":[1e2]}'];
    const body = `{\n  "family": "${family}",\n  "schema": {"n": "int", "doc": "json"},\n  "logs": [\n  ${events.join(',\n  ')}\n  ]\n}`;
    const answer = await api(gateway, 'PUT', '/api/log', body);
    expect(answer.status, JSON.stringify(answer.body)).toBe(200);
    // CAST: the text as stored, not the driver's parse of a JSON column (CONCAT(log, '') over a one-family view,
    // which MariaDB 10.11 merges, now and then reads '').
    const raw = await onShard<{ log: string }>(specNamed(shards, answer.body.shard), "SELECT CAST(log AS CHAR) AS log FROM raw_logs WHERE family = ? ORDER BY id", [family]);
    expect(raw.map((r) => r.log)).toEqual(events);
    // The typed json column holds the value as parsed.
    const typed = await onShard<{ doc: string }>(specNamed(shards, answer.body.shard), `SELECT CONCAT(doc, '') AS doc FROM \`${family}\` ORDER BY id`);
    expect(JSON.parse(typed[0]?.doc ?? 'null')).toEqual({ big: 12345678901234567890, f: 1.1 });
  });

  it("GraphQL ingestLogs with logs as a variable keeps each event's text as sent too; written in the document, the events are serialised", async () => {
    const family = uniqueFamily('rawtextgql');
    const events = ['{\n      "n": 1,\n      "doc": {"big": 12345678901234567890, "f": 1.10}\n    }', '{"n":2,"doc":[1e2]}'];
    const mutation = 'mutation($family: String!, $schema: JSONObject!, $events: [JSONObject!]!) { ingestLogs(family: $family, schema: $schema, logs: $events) { ingested shard } }';
    const body = `{\n  "query": ${JSON.stringify(mutation)},\n  "variables": {\n    "family": "${family}",\n    "schema": {"n": "int", "doc": "json"},\n    "events": [\n    ${events.join(',\n    ')}\n    ]\n  }\n}`;
    const answer = await api(gateway, 'POST', '/graphql', body);
    expect(answer.status, JSON.stringify(answer.body)).toBe(200);
    expect(answer.body.errors, JSON.stringify(answer.body)).toBeUndefined();
    const home = specNamed(shards, answer.body.data.ingestLogs.shard);
    const raw = await onShard<{ log: string }>(home, "SELECT CAST(log AS CHAR) AS log FROM raw_logs WHERE family = ? ORDER BY id", [family]);
    expect(raw.map((r) => r.log)).toEqual(events);

    const inline = await api(gateway, 'POST', '/graphql', { query: `mutation { ingestLogs(family: "${family}", schema: {n: "int"}, logs: [{n: 3}]) { ingested } }` });
    expect(inline.body.errors, JSON.stringify(inline.body)).toBeUndefined();
    const third = await onShard<{ log: string }>(home, "SELECT CAST(log AS CHAR) AS log FROM raw_logs WHERE family = ? AND JSON_VALUE(log, '$.n') = 3", [family]);
    expect(third.map((r) => JSON.parse(r.log) as unknown)).toEqual([{ n: 3 }]);

    // A key twice in an event is refused as over REST (JSON.parse would keep the last, the raw copy the first).
    const twice = await api(gateway, 'POST', '/graphql', `{"query": ${JSON.stringify(mutation)}, "variables": {"family": "${family}", "schema": {"n": "int"}, "events": [{"n": 4, "n": 5}]}}`);
    expect(twice.body.errors?.[0]?.extensions?.code, JSON.stringify(twice.body)).toBe('INVALID_JSON');
  });

  it('2^63-1 and other integers beyond 2^53 come back as exact strings; small ones as numbers', async () => {
    const family = uniqueFamily('bigints');
    const answer = await ingest(gateway, family, { n: 'int' }, [
      { n: '9223372036854775807' },
      { n: 9007199254740993n.toString() },
      { n: 9007199254740991 },
      { n: -5 },
    ]);
    expect(answer.status).toBe(200);
    const result = await query(gateway, `SELECT n FROM ${family} ORDER BY id`);
    expect(result.body.results).toEqual([{ n: '9223372036854775807' }, { n: '9007199254740993' }, { n: 9007199254740991 }, { n: -5 }]);
    const exact = await query(gateway, `SELECT COUNT(*) AS c FROM ${family} WHERE n = 9223372036854775807`);
    expect(exact.body.results).toEqual([{ c: 1 }]);
  });

  it('osquery-style strings are coerced: numeric strings for int/float, "true"/"false"/0/1 for bool', async () => {
    const family = uniqueFamily('osquery');
    const answer = await ingest(gateway, family, { pid: 'int', cpu: 'float', on_disk: 'bool', flag: 'bool', at: 'timestamp' }, [
      { pid: '1234', cpu: '12.5', on_disk: 'true', flag: 0, at: '1700000000' },
      { pid: '-1', cpu: '3', on_disk: 'false', flag: 1, at: 1700000000.5 },
      { pid: 7, cpu: 1e-3, on_disk: '1', flag: '0', at: null },
    ]);
    expect(answer.status).toBe(200);
    const result = await query(gateway, `SELECT pid, cpu, on_disk, flag, at FROM ${family} ORDER BY id`);
    expect(result.body.results).toEqual([
      { pid: 1234, cpu: 12.5, on_disk: true, flag: false, at: '2023-11-14T22:13:20.000000Z' },
      { pid: -1, cpu: 3, on_disk: false, flag: true, at: '2023-11-14T22:13:20.500000Z' },
      { pid: 7, cpu: 0.001, on_disk: true, flag: false, at: null },
    ]);
  });

  it('values that do not fit their type are 400 INVALID_VALUE naming the event index and field', async () => {
    const family = uniqueFamily('badvalues');
    const cases: Array<[string, unknown]> = [
      ['int', 'abc'],
      ['int', 1.5],
      ['int', '9223372036854775808'],
      ['float', 'NaN'],
      ['bool', 'yes'],
      ['bool', 2],
      ['timestamp', 'not a time'],
      ['date', '2023-02-30'],
      ['string', { a: 1 }],
      ['string', 'x'.repeat(70_000)],
      ['json', JSON.parse('['.repeat(40) + ']'.repeat(40))],
    ];
    for (const [type, value] of cases) {
      const answer = await ingest(gateway, family, { v: type }, [{ v: null }, { v: value }]);
      expect(answer.status, `${type} ${JSON.stringify(value)}`).toBe(400);
      expect(answer.body.error.code).toBe('INVALID_VALUE');
      expect(answer.body.error).toMatchObject({ index: 1, field: 'v' });
    }
  });
});
