/**
 * JSON logs without a declared schema (POST /api/log/{family}: NDJSON, a
 * JSON array, or {"logs", "schema"}), the GraphQL counterparts
 * (ingestEvents, ingestOsquery), and describe naming an osquery family's
 * original query name, in REST and GraphQL.
 */
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { api, onShard, specNamed, startGateway, uniqueFamily, type TestGateway } from './helpers/gateway.js';

const shards = inject('shards');
let gateway: TestGateway;

beforeAll(async () => {
  gateway = await startGateway(shards);
}, 60_000);
afterAll(async () => {
  await gateway.close();
});

async function columnTypes(family: string): Promise<Record<string, string>> {
  const [placement] = await onShard<{ shard: string }>(shards[0]!, 'SELECT shard FROM databalancer_placements WHERE family = ?', [family]);
  const rows = await onShard<{ name: string; type: string }>(
    specNamed(shards, placement!.shard),
    'SELECT COLUMN_NAME AS name, COLUMN_TYPE AS type FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = ? ORDER BY ORDINAL_POSITION',
    [family],
  );
  return Object.fromEntries(rows.map((r) => [r.name, r.type.replace(/\(\d+\)/, '')]));
}

function graphql(queryText: string, variables: Record<string, unknown>): Promise<{ status: number; body: any }> {
  return api(gateway, 'POST', '/graphql', { query: queryText, variables });
}

describe('POST /api/log/{family} without a schema', () => {
  it('infers types from NDJSON; fields only ever null get no column; a later request adds columns and keeps stored types', async () => {
    const family = uniqueFamily('schemaless');
    const ndjson = ['{"user":"ann","n":1,"ok":true,"meta":{"a":1},"gone":null}', '{"user":"bob","n":2.5,"ok":false}'].join('\n');
    const first = await api(gateway, 'POST', `/api/log/${family}`, ndjson, { 'content-type': 'application/x-ndjson' });
    expect(first.status, JSON.stringify(first.body)).toBe(200);
    expect(first.body).toMatchObject({ family, ingested: 2 });
    expect(await columnTypes(family)).toEqual({ id: 'bigint', user: 'text', n: 'double', ok: 'tinyint', meta: expect.stringMatching(/^(json|longtext)$/), _ingested_at: 'datetime', _raw: 'longtext' });

    // A JSON array: a new field, the stored ones keep their types (7 is stored in the float column).
    const second = await api(gateway, 'POST', `/api/log/${family}`, [{ user: 'cy', n: 7, extra: 'x' }]);
    expect(second.status, JSON.stringify(second.body)).toBe(200);
    expect((await columnTypes(family))['extra']).toBe('text');

    // A value that does not fit a stored column: 400 naming it, never 409, nothing written.
    const bad = await api(gateway, 'POST', `/api/log/${family}`, [{ user: 'dee', n: 'three' }]);
    expect(bad.status).toBe(400);
    expect(bad.body.error.code).toBe('INVALID_VALUE');
    expect(bad.body.error.message).toContain('"n"');
    const [placement] = await onShard<{ shard: string }>(shards[0]!, 'SELECT shard FROM databalancer_placements WHERE family = ?', [family]);
    const rows = await onShard(specNamed(shards, placement!.shard), `SELECT user, n, extra FROM \`${family}\` ORDER BY id`);
    expect(rows).toEqual([
      { user: 'ann', n: 1, extra: null },
      { user: 'bob', n: 2.5, extra: null },
      { user: 'cy', n: 7, extra: 'x' },
    ]);
  }, 60_000);

  it('a declared schema wins for its fields; against a stored type it is 409; bad NDJSON names its line', async () => {
    const family = uniqueFamily('schemaless');
    const answer = await api(gateway, 'POST', `/api/log/${family}`, { schema: { n: 'float', code: 'string' }, logs: [{ n: 1, code: 'a', k: 3 }] });
    expect(answer.status, JSON.stringify(answer.body)).toBe(200);
    expect(await columnTypes(family)).toMatchObject({ n: 'double', code: 'text', k: 'bigint' });
    const conflict = await api(gateway, 'POST', `/api/log/${family}`, { schema: { k: 'string' }, logs: [{ k: 'x' }] });
    expect(conflict.status).toBe(409);
    expect(conflict.body.error.code).toBe('SCHEMA_CONFLICT');
    const broken = await api(gateway, 'POST', `/api/log/${family}`, '{"k":1}\n{"k":', { 'content-type': 'application/x-ndjson' });
    expect(broken.status).toBe(400);
    expect(broken.body.error).toMatchObject({ code: 'INVALID_JSON' });
    expect(broken.body.error.message).toMatch(/^line 2 /);
    const odd = await api(gateway, 'POST', `/api/log/${family}`, { events: [] });
    expect(odd.status).toBe(400);
    expect(odd.body.error.code).toBe('BAD_USER_INPUT');
  }, 60_000);
});

describe('GraphQL and describe', () => {
  it('ingestOsquery and ingestEvents write as their REST routes do; describe names the osquery query', async () => {
    const s = randomBytes(4).toString('hex');
    const name = `pack_it-ops_processes_${s}`;
    const family = `pack_it_ops_processes_${s}`;
    const lines = JSON.stringify({ name, hostIdentifier: 'h', unixTime: 1710321302, columns: { pid: '42', name: 'x' }, action: 'added' });
    const osquery = await graphql('mutation($lines: String!) { ingestOsquery(lines: $lines) { id ingested families { id family originalName ingested replayed } } }', { lines });
    expect(osquery.body.errors).toBeUndefined();
    expect(osquery.body.data.ingestOsquery).toMatchObject({ ingested: 1, families: [{ family, originalName: name, ingested: 1, replayed: false }] });
    expect((await columnTypes(family))['pid']).toBe('bigint');

    const events = uniqueFamily('gqlevents');
    const answer = await graphql('mutation($family: String!, $events: [JSONObject!]!) { ingestEvents(family: $family, events: $events) { family ingested columns { name declaredType } } }', {
      family: events,
      events: [{ a: 1, b: 'x' }],
    });
    expect(answer.body.errors).toBeUndefined();
    expect(answer.body.data.ingestEvents.columns).toEqual([
      { name: 'id', declaredType: 'int' },
      { name: 'a', declaredType: 'int' },
      { name: 'b', declaredType: 'string' },
    ]);
    const refused = await graphql('mutation($family: String!, $events: [JSONObject!]!) { ingestEvents(family: $family, events: $events) { family } }', {
      family: events,
      events: [{ a: 'not a number' }],
    });
    expect(refused.body.errors[0].extensions.code).toBe('INVALID_VALUE');

    const described = await api(gateway, 'GET', '/api/describe');
    const table = (described.body.tables as Array<{ name: string }>).find((t) => t.name === family);
    expect(table).toMatchObject({ source: 'osquery', originalName: name });
    expect((described.body.tables as Array<{ name: string }>).find((t) => t.name === events)).toMatchObject({ source: null, originalName: null });
    const viaGraphql = await graphql('query($name: String!) { family(name: $name) { name source originalName } }', { name: family });
    expect(viaGraphql.body.data.family).toEqual({ name: family, source: 'osquery', originalName: name });

    // rows filters compare numbers as numbers, uint64 columns exactly (apparmor_events.pid is UNSIGNED_BIGINT).
    const apparmorName = `apparmor_events_${s}`;
    const big = ['18446744073709551615', '9007199254740993', '100'].map((pid, i) =>
      JSON.stringify({ name: apparmorName, hostIdentifier: 'h', unixTime: 1710321302 + i, columns: { pid, comm: `c${i}` }, action: 'added' }),
    );
    expect((await graphql('mutation($lines: String!) { ingestOsquery(lines: $lines) { ingested } }', { lines: big.join('\n') })).body.data.ingestOsquery.ingested).toBe(3);
    const rowsQuery = 'query($name: String!, $where: RowFilter) { family(name: $name) { rows(where: $where, orderBy: [{field: "pid"}]) { rows } } }';
    const over = await graphql(rowsQuery, { name: apparmorName, where: { field: 'pid', gt: '9007199254740992' } });
    expect(over.body.errors).toBeUndefined();
    expect(over.body.data.family.rows.rows.map((r: Record<string, unknown>) => [r['comm'], r['pid']])).toEqual([
      ['c1', '9007199254740993'],
      ['c0', '18446744073709551615'],
    ]);
    const small = await graphql(rowsQuery, { name: apparmorName, where: { field: 'pid', lt: 1000 } });
    expect(small.body.data.family.rows.rows.map((r: Record<string, unknown>) => r['pid'])).toEqual([100]);
  }, 60_000);
});
