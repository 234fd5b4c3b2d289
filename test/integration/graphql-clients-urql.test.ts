/**
 * urql against a real gateway: once with its defaults (document cache,
 * queries sent as GET within the URL limit) and once with graphcache, the
 * normalised cache, unconfigured. Every object type has an `id`, so
 * graphcache prints no "Invalid key" warning; mutations return the changed
 * Family, so a cache-only read after one shows the new column; errors reach
 * `result.error.graphQLErrors` with `extensions.code`.
 */
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, inject, it, vi } from 'vitest';
import { Client, cacheExchange as documentCacheExchange, fetchExchange, gql, type OperationResult } from '@urql/core';
import { cacheExchange as graphcacheExchange } from '@urql/exchange-graphcache';
import { startGateway, uniqueFamily, type TestGateway } from './helpers/gateway.js';

const shards = inject('shards');
let gateway: TestGateway;
let endpoint: string;

let printed: string[] = [];
beforeEach(() => {
  printed = [];
  for (const method of ['warn', 'error'] as const) {
    vi.spyOn(console, method).mockImplementation((...args: unknown[]) => {
      printed.push(`console.${method}: ${args.map(String).join(' ')}`);
    });
  }
});
afterEach(() => {
  vi.restoreAllMocks();
});

beforeAll(async () => {
  gateway = await startGateway(shards);
  endpoint = `${gateway.url}/graphql`;
});
afterAll(async () => {
  await gateway?.close();
});

const INGEST = gql`
  mutation Ingest($family: String!, $schema: JSONObject!, $logs: [JSONObject!]!) {
    ingestLogs(family: $family, schema: $schema, logs: $logs) {
      id family ingested shard replayed
      columns { id name type }
      familyInfo { id name columns { id name type declaredType nullable } }
    }
  }
`;
const FAMILY_A = gql`query FamilyA($name: String!) { family(name: $name) { id name shard createdAt rowEstimate } }`;
const FAMILY_B = gql`query FamilyB($name: String!) { family(name: $name) { id columns { id name type declaredType nullable } retention { id retentionSeconds } } }`;
const ROWS = gql`
  query Rows($name: String!, $where: RowFilter) {
    family(name: $name) { id rows(where: $where, orderBy: [{ field: "weight", direction: DESC }]) { id rows hasMore } }
  }
`;
const FAMILIES = gql`{ families { id name shard columns { id name } } }`;
const DESCRIBE = gql`{ describe { id tables { id name shard createdAt retentionSeconds columns { id name type } } } }`;
const RAW = gql`query Raw($sql: String!) { rawQuery(query: $sql) { id results columns { id name type } truncated shards elapsedMs } }`;
const SHARDS = gql`{ shards { id name reachable families } }`;
const SET_RETENTION = gql`
  mutation SetRetention($family: String!, $retention: String!) {
    setRetention(family: $family, retention: $retention) { id retentionSeconds familyInfo { id retention { id retentionSeconds } } }
  }
`;
const INVALID = gql`query Invalid { families { id nope } }`;
const MISSING = gql`query Missing($name: String!) { family(name: $name) { id name } }`;
const COERCION = gql`query Coercion($name: String!, $limit: Int) { family(name: $name) { id rows(limit: $limit) { id rows } } }`;

const schema = { name: 'string', weight: 'int', good: 'bool' };
const logs = [
  { name: 'rex', weight: 30, good: true },
  { name: 'fido', weight: 4, good: false },
  { name: 'spot', weight: 12, good: true },
];

interface FamilyData {
  family: { id: string; columns: Array<{ name: string }>; retention: { retentionSeconds: number | null }; rows: { rows: Array<Record<string, unknown>> } };
}

function ok<T>(result: OperationResult<T>): T {
  expect(result.error).toBeUndefined();
  expect(result.data).toBeDefined();
  return result.data as T;
}

function codes(result: OperationResult): unknown[] {
  expect(result.error).toBeDefined();
  expect(result.error?.networkError).toBeUndefined();
  return result.error?.graphQLErrors.map((e) => e.extensions['code']) ?? [];
}

/** The same session for each client: ingest, every query, a mutation, then a cached read that must show the new column. */
async function session(client: Client, family: string, cachedPolicy: 'cache-only' | 'cache-first'): Promise<void> {
  const ingested = ok(await client.mutation(INGEST, { family, schema, logs }).toPromise()) as { ingestLogs: { ingested: number; familyInfo: { id: string } } };
  expect(ingested.ingestLogs).toMatchObject({ ingested: 3, familyInfo: { id: family } });

  const a = ok(await client.query(FAMILY_A, { name: family }).toPromise());
  expect(a).toMatchObject({ family: { id: family, name: family, createdAt: expect.stringMatching(/\.\d{6}Z$/) } });
  const b = ok<FamilyData>(await client.query(FAMILY_B, { name: family }).toPromise());
  // urql sends variables with their keys sorted, so the schema's fields were declared in that order.
  expect(b.family.columns.map((c) => c.name)).toEqual(['id', 'good', 'name', 'weight']);
  const rows = ok<FamilyData>(await client.query(ROWS, { name: family, where: { or: [{ field: 'good', eq: false }, { field: 'weight', gt: 20 }] } }).toPromise());
  expect(rows.family.rows.rows.map((r) => r['name'])).toEqual(['rex', 'fido']);
  const families = ok<{ families: Array<{ id: string }> }>(await client.query(FAMILIES, {}).toPromise());
  expect(families.families.map((f) => f.id)).toContain(family);
  const described = ok<{ describe: { tables: Array<{ id: string }> } }>(await client.query(DESCRIBE, {}).toPromise());
  expect(described.describe.tables.map((t) => t.id)).toContain(family);
  const raw = ok(await client.query(RAW, { sql: `SELECT name, good FROM ${family} WHERE weight > 10 ORDER BY id` }).toPromise());
  expect(raw).toMatchObject({ rawQuery: { results: [{ name: 'rex', good: true }, { name: 'spot', good: true }], columns: [{ name: 'name', type: 'text' }, { name: 'good', type: 'tinyint' }] } });
  ok(await client.query(SHARDS, {}).toPromise());

  ok(await client.mutation(INGEST, { family, schema: { color: 'string' }, logs: [{ color: 'brown' }] }).toPromise());
  const after = ok<FamilyData>(await client.query(FAMILY_B, { name: family }, { requestPolicy: cachedPolicy }).toPromise());
  expect(after.family.columns.map((c) => c.name)).toEqual(['id', 'good', 'name', 'weight', 'color']);
  ok(await client.mutation(SET_RETENTION, { family, retention: '1d' }).toPromise());
  const retained = ok<FamilyData>(await client.query(FAMILY_B, { name: family }, { requestPolicy: cachedPolicy }).toPromise());
  expect(retained.family.retention.retentionSeconds).toBe(86_400);

  expect(codes(await client.query(INVALID, {}).toPromise())).toEqual(['GRAPHQL_VALIDATION_FAILED']);
  expect(codes(await client.query(COERCION, { name: family, limit: 'many' }).toPromise())).toEqual(['BAD_USER_INPUT']);
  expect(codes(await client.query(MISSING, { name: uniqueFamily('gql_missing') }).toPromise())).toEqual(['FAMILY_NOT_FOUND']);
  expect(codes(await client.mutation(INGEST, { family, schema: { weight: 'string' }, logs: [{ weight: 'x' }] }).toPromise())).toEqual(['SCHEMA_CONFLICT']);
}

describe('urql', () => {
  it('with its defaults (document cache, GET queries): every operation, a refreshed read after a mutation, and error codes', async () => {
    const client = new Client({ url: endpoint, exchanges: [documentCacheExchange, fetchExchange] });
    // The document cache refetches queries whose results held a type the mutation returned (Family).
    await session(client, uniqueFamily('gql_urql'), 'cache-first');
    expect(printed).toEqual([]);
  });

  it('with graphcache and no configuration: normalised with no warning, and a cache-only read shows the mutation', async () => {
    const client = new Client({ url: endpoint, exchanges: [graphcacheExchange(), fetchExchange] });
    await session(client, uniqueFamily('gql_gcache'), 'cache-only');
    expect(printed).toEqual([]);
  });
});
