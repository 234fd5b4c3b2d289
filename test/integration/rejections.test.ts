/**
 * All-or-nothing: every rejection answers its status, code and a message, and
 * writes nothing on any shard or in the catalog. For a brand-new family a
 * rejected request leaves no table and no placement behind.
 */
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { api, ingest, snapshotFamily, startGateway, uniqueFamily, type FamilySnapshot, type TestGateway } from './helpers/gateway.js';

const shards = inject('shards');
let gateway: TestGateway;
/** --max_columns=3 and --body_limit_bytes=4096. */
let capped: TestGateway;

beforeAll(async () => {
  [gateway, capped] = await Promise.all([startGateway(shards), startGateway(shards, ['--max_columns=3', '--body_limit_bytes=4096'])]);
});
afterAll(async () => {
  await Promise.all([gateway.close(), capped.close()]);
});

/** A rejected request: the body to send for `family` (object or raw text), and the expected status and code. */
interface Rejection {
  name: string;
  body: (family: string) => unknown;
  status: number;
  code: string;
  /** Use the gateway with --max_columns=3 --body_limit_bytes=4096. */
  capped?: boolean;
  /** Checks on the error details. */
  details?: Record<string, unknown>;
}

const BASE_SCHEMA = { name: 'string', n: 'int' };
const good = (i: number) => ({ name: `ok${i}`, n: i });

const REJECTIONS: Rejection[] = [
  { name: 'bad JSON body', body: (f) => `{"family": "${f}", "schema": {"n": "int"}, "logs": [{"n": 1}`, status: 400, code: 'INVALID_JSON' },
  { name: 'non-object body (array)', body: (f) => JSON.stringify([{ family: f, schema: BASE_SCHEMA, logs: [good(1)] }]), status: 400, code: 'BAD_USER_INPUT' },
  { name: 'non-object body (string)', body: () => '"hello"', status: 400, code: 'BAD_USER_INPUT' },
  { name: 'empty body', body: () => '', status: 400, code: 'BAD_USER_INPUT' },
  { name: 'logs not an array', body: (f) => ({ family: f, schema: BASE_SCHEMA, logs: good(1) }), status: 400, code: 'BAD_USER_INPUT' },
  { name: 'an event that is not an object', body: (f) => ({ family: f, schema: BASE_SCHEMA, logs: [good(1), 'x'] }), status: 400, code: 'BAD_USER_INPUT' },
  { name: 'schema not an object', body: (f) => ({ family: f, schema: ['name'], logs: [good(1)] }), status: 400, code: 'INVALID_SCHEMA' },
  { name: 'unknown type', body: (f) => ({ family: f, schema: { ...BASE_SCHEMA, extra: 'varchar' }, logs: [good(1)] }), status: 400, code: 'INVALID_SCHEMA', details: { field: 'extra', type: 'varchar' } },
  { name: 'reserved field name id', body: (f) => ({ family: f, schema: { ...BASE_SCHEMA, id: 'int' }, logs: [good(1)] }), status: 400, code: 'INVALID_FIELD_NAME' },
  { name: 'reserved field name ID (any case)', body: (f) => ({ family: f, schema: { ...BASE_SCHEMA, ID: 'int' }, logs: [good(1)] }), status: 400, code: 'INVALID_FIELD_NAME' },
  { name: 'reserved internal column', body: (f) => ({ family: f, schema: { ...BASE_SCHEMA, _ingested_at: 'timestamp' }, logs: [good(1)] }), status: 400, code: 'INVALID_FIELD_NAME' },
  { name: 'field name with NUL', body: (f) => ({ family: f, schema: { ...BASE_SCHEMA, 'a\u0000b': 'int' }, logs: [good(1)] }), status: 400, code: 'INVALID_FIELD_NAME' },
  { name: 'field name too long', body: (f) => ({ family: f, schema: { ...BASE_SCHEMA, ['x'.repeat(65)]: 'int' }, logs: [good(1)] }), status: 400, code: 'INVALID_FIELD_NAME' },
  { name: 'case-only collision in the schema', body: (f) => ({ family: f, schema: { ...BASE_SCHEMA, Extra: 'int', EXTRA: 'int' }, logs: [good(1)] }), status: 400, code: 'INVALID_FIELD_NAME' },
  {
    name: 'field not in the schema (last event)',
    body: (f) => ({ family: f, schema: { ...BASE_SCHEMA, fresh: 'string' }, logs: [good(1), good(2), { ...good(3), surprise: 1 }] }),
    status: 400,
    code: 'UNDECLARED_FIELD',
  },
  {
    name: 'wrong value type in the last event of a batch',
    body: (f) => ({ family: f, schema: { ...BASE_SCHEMA, fresh: 'string' }, logs: [...Array.from({ length: 50 }, (_, i) => ({ ...good(i), fresh: 'y' })), { name: 'bad', n: 'not a number' }] }),
    status: 400,
    code: 'INVALID_VALUE',
    details: { index: 50, field: 'n', type: 'int', value: 'not a number' },
  },
  {
    name: 'too many columns (--max_columns=3)',
    body: (f) => ({ family: f, schema: { ...BASE_SCHEMA, a: 'int', b: 'int' }, logs: [good(1)] }),
    status: 400,
    code: 'TOO_MANY_COLUMNS',
    capped: true,
    details: { limit: 3 },
  },
  {
    name: 'body too large (--body_limit_bytes=4096)',
    body: (f) => ({ family: f, schema: BASE_SCHEMA, logs: Array.from({ length: 200 }, (_, i) => good(i)) }),
    status: 413,
    code: 'PAYLOAD_TOO_LARGE',
    capped: true,
  },
];

/** Family-name rejections: the family itself is bad, so nothing may exist under that name. */
const BAD_FAMILIES: Array<[string, unknown]> = [
  ['with a dash', 'bad-name'],
  ['with a space', 'bad name'],
  ['with a backtick', 'bad`name'],
  ['too long', 'f'.repeat(65)],
  ['empty', ''],
  ['not a string', 42],
  ['raw_logs', 'raw_logs'],
  ['RAW_LOGS', 'RAW_LOGS'],
  ['databalancer_x', 'databalancer_x'],
  ['Databalancer_placements', 'Databalancer_placements'],
];

function send(target: TestGateway, body: unknown) {
  return api(target, 'PUT', '/api/log', typeof body === 'string' ? body : JSON.stringify(body), { 'content-type': 'application/json' });
}

function expectRejected(answer: { status: number; body: any }, rejection: { status: number; code: string; details?: Record<string, unknown> }): void {
  expect(answer.status).toBe(rejection.status);
  expect(answer.body.error.code).toBe(rejection.code);
  expect(typeof answer.body.error.message).toBe('string');
  expect(answer.body.error.message.length).toBeGreaterThan(10);
  expect(JSON.stringify(answer.body)).not.toMatch(/\bat .*\.(ts|js):\d+/);
  if (rejection.details !== undefined) expect(answer.body.error).toMatchObject(rejection.details);
}

function expectNothingAnywhere(snapshot: FamilySnapshot): void {
  expect(snapshot.placements).toEqual([]);
  expect(snapshot.declared).toEqual([]);
  for (const shard of shards) {
    expect(snapshot.columns[shard.name], shard.name).toBeNull();
    expect(snapshot.rawLogs[shard.name], shard.name).toBe(0);
  }
}

describe('a rejected request writes nothing', () => {
  it.each(REJECTIONS)('$name: on an existing family, nothing changes on any shard', async (rejection) => {
    const family = uniqueFamily('rej');
    const target = rejection.capped === true ? capped : gateway;
    const setup = await ingest(target, family, BASE_SCHEMA, [good(0), good(1)]);
    expect(setup.status).toBe(200);
    const before = await snapshotFamily(shards, family);
    expect(before.rows[setup.body.shard]).toBe(2);

    expectRejected(await send(target, rejection.body(family)), rejection);
    expect(await snapshotFamily(shards, family)).toEqual(before);
  });

  it.each(REJECTIONS)('$name: on a brand-new family, no table and no placement', async (rejection) => {
    const family = uniqueFamily('rejnew');
    const target = rejection.capped === true ? capped : gateway;
    expectRejected(await send(target, rejection.body(family)), rejection);
    expectNothingAnywhere(await snapshotFamily(shards, family));
  });

  it.each(BAD_FAMILIES)('family name %s: 400 INVALID_FAMILY_NAME and nothing written', async (_label, family) => {
    const before = typeof family === 'string' && family !== '' ? await snapshotFamily(shards, family) : undefined;
    expectRejected(await send(gateway, { family, schema: BASE_SCHEMA, logs: [good(1)] }), { status: 400, code: 'INVALID_FAMILY_NAME' });
    if (typeof family === 'string' && family !== '') {
      // Reserved names such as raw_logs are real shared tables that other test
      // files write to at the same time: compare everything but their row counts.
      const { rows: _rowsAfter, ...after } = await snapshotFamily(shards, family);
      const { rows: _rowsBefore, ...expected } = before!;
      expect(after).toEqual(expected);
    }
  });

  it('a missing family is 400 INVALID_FAMILY_NAME', async () => {
    expectRejected(await send(gateway, { schema: BASE_SCHEMA, logs: [good(1)] }), { status: 400, code: 'INVALID_FAMILY_NAME' });
  });

  it('a type conflict with a new field in the same request adds no column and no row', async () => {
    const family = uniqueFamily('rejconf');
    expect((await ingest(gateway, family, BASE_SCHEMA, [good(1)])).status).toBe(200);
    const before = await snapshotFamily(shards, family);
    const answer = await ingest(gateway, family, { fresh: 'string', n: 'string' }, [{ fresh: 'x', n: 'y' }]);
    expectRejected(answer, { status: 409, code: 'SCHEMA_CONFLICT', details: { field: 'n', storedType: 'int', requestedType: 'string' } });
    expect(await snapshotFamily(shards, family)).toEqual(before);
  });

  it('adding columns past --max_columns=3 on an existing family is 400 and adds nothing; up to the cap is fine', async () => {
    const family = uniqueFamily('rejcap');
    expect((await ingest(capped, family, BASE_SCHEMA, [good(1)])).status).toBe(200);
    const before = await snapshotFamily(shards, family);
    const answer = await ingest(capped, family, { extra: 'int', more: 'int' }, [{ extra: 1, more: 2 }]);
    expectRejected(answer, { status: 400, code: 'TOO_MANY_COLUMNS', details: { limit: 3 } });
    expect(await snapshotFamily(shards, family)).toEqual(before);
    const third = await ingest(capped, family, { extra: 'int' }, [{ extra: 1 }]);
    expect(third.status).toBe(200);
  });

  it('a body just under the limit is accepted by the capped gateway', async () => {
    const family = uniqueFamily('rejsize');
    const answer = await ingest(capped, family, BASE_SCHEMA, Array.from({ length: 20 }, (_, i) => good(i)));
    expect(answer.status).toBe(200);
    expect(answer.body.ingested).toBe(20);
  });
});
