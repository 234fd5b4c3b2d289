/**
 * The real GraphQL clients against a real gateway: Apollo Client 4 and 3
 * (InMemoryCache with no configuration) and graphql-request. Every type that
 * stands for a thing has an `id`, so the caches normalise with zero
 * configuration and zero warnings; mutations return the changed Family, so a
 * cached read after one shows the change; the REST and GraphQL mirrors agree
 * (createdAt with microseconds, retentionSeconds, one type name per column
 * type); each client's normal error path carries `extensions.code`.
 * urql (document cache and graphcache) is in graphql-clients-urql.test.ts.
 */
import { readFileSync } from 'node:fs';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, inject, it, vi } from 'vitest';
import { parse, Kind, type ScalarTypeDefinitionNode } from 'graphql';
import { ApolloClient, CombinedGraphQLErrors, HttpLink, InMemoryCache, gql } from '@apollo/client';
import * as Apollo3 from 'apollo-client-3/core/index.js';
import { ClientError, GraphQLClient } from 'graphql-request';
import { api, startGateway, uniqueFamily, type TestGateway } from './helpers/gateway.js';

const shards = inject('shards');
let gateway: TestGateway;
let endpoint: string;

/** Everything the clients print through console.warn / console.error (cache warnings among them). */
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

const INGEST = `
  mutation Ingest($family: String!, $schema: JSONObject!, $logs: [JSONObject!]!, $key: String) {
    ingestLogs(family: $family, schema: $schema, logs: $logs, idempotencyKey: $key) {
      id family ingested shard replayed
      columns { id name type declaredType }
      familyInfo { id name shard columns { id name type declaredType nullable } }
    }
  }`;
const FAMILY_A = `query FamilyA($name: String!) { family(name: $name) { id name shard createdAt } }`;
const FAMILY_B = `query FamilyB($name: String!) { family(name: $name) { id columns { id name type declaredType nullable } retention { id retentionSeconds } } }`;
const ROWS = `
  query Rows($name: String!, $where: RowFilter) {
    family(name: $name) { id rows(where: $where, orderBy: [{ field: "id" }]) { id rows hasMore limit offset } }
  }`;
const FAMILIES = `{ families { id name shard } }`;
const DESCRIBE = `{ describe { id tables { id name shard createdAt retentionSeconds rowEstimate columns { id name type declaredType nullable } } } }`;
const RAW = `query Raw($sql: String!) { rawQuery(query: $sql) { id results columns { id name type } truncated shards } }`;
const SHARDS = `{ shards { id name reachable families } }`;
const SET_RETENTION = `
  mutation SetRetention($family: String!, $retention: String!) {
    setRetention(family: $family, retention: $retention) { id family retentionSeconds familyInfo { id retention { id retentionSeconds } } }
  }`;
const CLEAR_RETENTION = `
  mutation ClearRetention($family: String!) {
    clearRetention(family: $family) { id family retentionSeconds familyInfo { id retention { id retentionSeconds } } }
  }`;
const PURGE = `
  mutation Purge($family: String!, $before: String!) {
    purgeLogs(family: $family, before: $before) { id family deleted familyInfo { id name rowEstimate } }
  }`;
const INVALID = `query Invalid { families { id nope } }`;
const MISSING = `query Missing($name: String!) { family(name: $name) { id name } }`;
const COERCION = `query Coercion($name: String!, $limit: Int) { family(name: $name) { id rows(limit: $limit) { id rows } } }`;

const schema = { name: 'string', weight: 'int', good: 'bool' };
const logs = [
  { name: 'rex', weight: 30, good: true },
  { name: 'fido', weight: 4, good: false },
  { name: 'spot', weight: 12, good: true },
];

interface Column {
  id: string;
  name: string;
  type: string;
}

function names(columns: readonly Column[]): string[] {
  return columns.map((c) => c.name);
}

describe('Apollo Client 4 with a default InMemoryCache', () => {
  const family = uniqueFamily('gql_ac4');
  let client: ApolloClient;

  beforeAll(() => {
    client = new ApolloClient({ link: new HttpLink({ uri: endpoint }), cache: new InMemoryCache() });
  });

  it('ingests, reads one family with two selection sets, and updates cached reads after mutations, with no warning', async () => {
    const ingested = await client.mutate({ mutation: gql(INGEST), variables: { family, schema, logs } });
    const result = ingested.data as { ingestLogs: { id: string; family: string; ingested: number; columns: Column[]; familyInfo: { id: string; columns: Column[] } } };
    expect(result.ingestLogs).toMatchObject({ family, ingested: 3, familyInfo: { id: family } });
    expect(result.ingestLogs.columns[1]).toMatchObject({ id: `${family}.name`, name: 'name', type: 'text' });

    const a = await client.query({ query: gql(FAMILY_A), variables: { name: family } });
    const b = await client.query({ query: gql(FAMILY_B), variables: { name: family } });
    expect(a.data).toMatchObject({ family: { id: family, name: family, createdAt: expect.stringMatching(/\.\d{6}Z$/) } });
    expect(names((b.data as { family: { columns: Column[] } }).family.columns)).toEqual(['id', 'name', 'weight', 'good']);
    // The first selection is still whole in the cache: both are one normalised Family.
    expect(client.readQuery({ query: gql(FAMILY_A), variables: { name: family } })).toEqual(a.data);

    // A mutation that adds a column returns the changed Family: the cached read shows it without a refetch.
    await client.mutate({ mutation: gql(INGEST), variables: { family, schema: { color: 'string' }, logs: [{ color: 'brown' }] } });
    const cached = client.readQuery({ query: gql(FAMILY_B), variables: { name: family } }) as { family: { columns: Column[] } };
    expect(names(cached.family.columns)).toEqual(['id', 'name', 'weight', 'good', 'color']);

    await client.mutate({ mutation: gql(SET_RETENTION), variables: { family, retention: '2d' } });
    expect(client.readQuery({ query: gql(FAMILY_B), variables: { name: family } })).toMatchObject({ family: { retention: { id: family, retentionSeconds: 172_800 } } });
    await client.mutate({ mutation: gql(CLEAR_RETENTION), variables: { family } });
    expect(client.readQuery({ query: gql(FAMILY_B), variables: { name: family } })).toMatchObject({ family: { retention: { retentionSeconds: null } } });

    const rows = await client.query({ query: gql(ROWS), variables: { name: family, where: { field: 'weight', gte: 10 } } });
    expect((rows.data as { family: { rows: { rows: Array<Record<string, unknown>> } } }).family.rows.rows.map((r) => r['name'])).toEqual(['rex', 'spot']);
    const families = await client.query({ query: gql(FAMILIES) });
    expect((families.data as { families: Array<{ id: string }> }).families).toContainEqual(expect.objectContaining({ id: family, name: family }));
    const described = await client.query({ query: gql(DESCRIBE) });
    expect((described.data as { describe: { tables: Array<{ id: string }> } }).describe.tables).toContainEqual(expect.objectContaining({ id: family, name: family }));
    const raw = await client.query({ query: gql(RAW), variables: { sql: `SELECT name, good FROM ${family} ORDER BY id` } });
    expect(raw.data).toMatchObject({ rawQuery: { results: [{ name: 'rex', good: true }, { name: 'fido', good: false }, { name: 'spot', good: true }, { name: null, good: null }] } });
    const shardList = await client.query({ query: gql(SHARDS) });
    expect((shardList.data as { shards: Array<{ id: string; name: string }> }).shards.every((s) => s.id === s.name)).toBe(true);

    const purged = await client.mutate({ mutation: gql(PURGE), variables: { family, before: new Date().toISOString() } });
    expect(purged.data).toMatchObject({ purgeLogs: { family, deleted: 4, familyInfo: { id: family } } });
    expect(printed).toEqual([]);
  });

  it('surfaces validation, variable and resolver errors as GraphQL errors with extensions.code', async () => {
    const codes = async (run: Promise<unknown>): Promise<unknown[]> => {
      const error = await run.then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(CombinedGraphQLErrors.is(error)).toBe(true);
      return (error as CombinedGraphQLErrors).errors.map((e) => e.extensions?.['code']);
    };
    expect(await codes(client.query({ query: gql(INVALID) }))).toEqual(['GRAPHQL_VALIDATION_FAILED']);
    expect(await codes(client.query({ query: gql(COERCION), variables: { name: family, limit: 'many' } }))).toEqual(['BAD_USER_INPUT']);
    expect(await codes(client.query({ query: gql(MISSING), variables: { name: uniqueFamily('gql_missing') } }))).toEqual(['FAMILY_NOT_FOUND']);
    expect(await codes(client.mutate({ mutation: gql(INGEST), variables: { family, schema: { weight: 'string' }, logs: [{ weight: 'x' }] } }))).toEqual(['SCHEMA_CONFLICT']);
    expect(printed).toEqual([]);
  });
});

describe('Apollo Client 3 with a default InMemoryCache', () => {
  const family = uniqueFamily('gql_ac3');
  let client: InstanceType<typeof Apollo3.ApolloClient<Apollo3.NormalizedCacheObject>>;

  beforeAll(() => {
    client = new Apollo3.ApolloClient({ link: new Apollo3.HttpLink({ uri: endpoint }), cache: new Apollo3.InMemoryCache() });
  });

  it('normalises one family read with two selection sets, and a mutation updates the cached read, with no warning', async () => {
    await client.mutate({ mutation: Apollo3.gql(INGEST), variables: { family, schema, logs } });
    const a = await client.query({ query: Apollo3.gql(FAMILY_A), variables: { name: family } });
    await client.query({ query: Apollo3.gql(FAMILY_B), variables: { name: family } });
    expect(client.readQuery({ query: Apollo3.gql(FAMILY_A), variables: { name: family } })).toEqual(a.data);
    await client.mutate({ mutation: Apollo3.gql(INGEST), variables: { family, schema: { color: 'string' }, logs: [{ color: 'red' }] } });
    const cached = client.readQuery<{ family: { columns: Column[] } }>({ query: Apollo3.gql(FAMILY_B), variables: { name: family } });
    expect(names(cached?.family.columns ?? [])).toEqual(['id', 'name', 'weight', 'good', 'color']);
    await client.query({ query: Apollo3.gql(DESCRIBE) });
    await client.query({ query: Apollo3.gql(RAW), variables: { sql: `SELECT name FROM ${family}` } });
    expect(printed).toEqual([]);
  });

  it('sees validation and variable errors as graphQLErrors with extensions.code, not as a network error', async () => {
    const failure = async (run: Promise<unknown>): Promise<Apollo3.ApolloError> => {
      const error = await run.then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(error).toBeInstanceOf(Apollo3.ApolloError);
      return error as Apollo3.ApolloError;
    };
    const invalid = await failure(client.query({ query: Apollo3.gql(INVALID) }));
    expect(invalid.networkError).toBeNull();
    expect(invalid.graphQLErrors.map((e) => e.extensions?.['code'])).toEqual(['GRAPHQL_VALIDATION_FAILED']);
    const coercion = await failure(client.query({ query: Apollo3.gql(COERCION), variables: { name: family, limit: 'many' } }));
    expect(coercion.graphQLErrors.map((e) => e.extensions?.['code'])).toEqual(['BAD_USER_INPUT']);
    const missing = await failure(client.query({ query: Apollo3.gql(MISSING), variables: { name: uniqueFamily('gql_missing') } }));
    expect(missing.graphQLErrors.map((e) => e.extensions?.['code'])).toEqual(['FAMILY_NOT_FOUND']);
    expect(printed).toEqual([]);
  });
});

describe('graphql-request', () => {
  const family = uniqueFamily('gql_req');
  let client: GraphQLClient;

  beforeAll(() => {
    client = new GraphQLClient(endpoint);
  });

  it('ingests, queries, and reads rows with a filter', async () => {
    const ingested = await client.request<{ ingestLogs: { familyInfo: { columns: Column[] } } }>(INGEST, { family, schema, logs });
    expect(names(ingested.ingestLogs.familyInfo.columns)).toEqual(['id', 'name', 'weight', 'good']);
    const rows = await client.request<{ family: { rows: { rows: Array<Record<string, unknown>> } } }>(ROWS, { name: family, where: { field: 'good', eq: true } });
    expect(rows.family.rows.rows.map((r) => r['name'])).toEqual(['rex', 'spot']);
  });

  it('throws ClientError carrying each error code', async () => {
    const codes = async (document: string, variables: Record<string, unknown> = {}): Promise<unknown[]> => {
      const error = await client.request(document, variables).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(error).toBeInstanceOf(ClientError);
      return (error as ClientError).response.errors?.map((e) => e.extensions?.['code']) ?? [];
    };
    expect(await codes(INVALID)).toEqual(['GRAPHQL_VALIDATION_FAILED']);
    expect(await codes('query Broken { families { id ')).toEqual(['GRAPHQL_PARSE_FAILED']);
    expect(await codes(COERCION, { name: family, limit: 'many' })).toEqual(['BAD_USER_INPUT']);
    expect(await codes(MISSING, { name: uniqueFamily('gql_missing') })).toEqual(['FAMILY_NOT_FOUND']);
  });

  it('publishes the scalar descriptions of schema.graphql and no schema description', async () => {
    const document = parse(readFileSync('schema.graphql', 'utf8'));
    const written = new Map(
      document.definitions
        .filter((d): d is ScalarTypeDefinitionNode => d.kind === Kind.SCALAR_TYPE_DEFINITION)
        .map((d) => [d.name.value, d.description?.value]),
    );
    expect([...written.keys()].sort()).toEqual(['DateTime', 'JSON', 'JSONObject']);
    const answer = await client.request<{ __schema: { description: string | null; types: Array<{ name: string; kind: string; description: string | null }> } }>(
      `{ __schema { description types { name kind description } } }`,
    );
    expect(answer.__schema.description).toBeNull();
    for (const [name, description] of written) {
      expect(answer.__schema.types.find((t) => t.name === name)?.description).toBe(description);
    }
  });
});

describe('the status of a request error follows the Accept header (GraphQL over HTTP)', () => {
  const post = async (query: string, accept: string | undefined, variables?: Record<string, unknown>): Promise<{ status: number; type: string | null; code: unknown }> => {
    const response = await fetch(endpoint, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...(accept === undefined ? {} : { accept }) },
      body: JSON.stringify({ query, variables }),
    });
    const body = (await response.json()) as { data?: unknown; errors: Array<{ extensions: { code: string } }> };
    expect(body.data).toBeUndefined();
    return { status: response.status, type: response.headers.get('content-type'), code: body.errors[0]?.extensions.code };
  };
  // Past the token cap (graphql_max_cost): refused before Apollo, by the document limits.
  const tooManyTokens = `{ ${'a: __typename '.repeat(30_000)} }`;

  it('answers 200 application/json to clients that take application/json only (or anything, or say nothing)', async () => {
    for (const accept of [undefined, '*/*', 'application/json', 'application/json, application/graphql-response+json;q=0.5']) {
      expect(await post(INVALID, accept)).toEqual({ status: 200, type: 'application/json; charset=utf-8', code: 'GRAPHQL_VALIDATION_FAILED' });
      expect(await post('{ families { id', accept)).toMatchObject({ status: 200, code: 'GRAPHQL_PARSE_FAILED' });
      expect(await post(COERCION, accept, { name: 'x', limit: 'many' })).toMatchObject({ status: 200, code: 'BAD_USER_INPUT' });
      expect(await post(tooManyTokens, accept)).toMatchObject({ status: 200, type: 'application/json; charset=utf-8', code: 'GRAPHQL_VALIDATION_FAILED' });
    }
  });

  it('answers 400 application/graphql-response+json to clients that prefer it; requests that are not GraphQL requests stay 400', async () => {
    for (const accept of ['application/graphql-response+json', 'application/graphql-response+json, application/json', 'application/json;q=0.9, application/graphql-response+json']) {
      expect(await post(INVALID, accept)).toEqual({ status: 400, type: 'application/graphql-response+json; charset=utf-8', code: 'GRAPHQL_VALIDATION_FAILED' });
      expect(await post(tooManyTokens, accept)).toEqual({ status: 400, type: 'application/graphql-response+json; charset=utf-8', code: 'GRAPHQL_VALIDATION_FAILED' });
    }
    const noQuery = await fetch(endpoint, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"variables":{}}' });
    expect(noQuery.status).toBe(400);
    expect(((await noQuery.json()) as { errors: Array<{ extensions: { code: string } }> }).errors[0]?.extensions.code).toBe('BAD_REQUEST');
  });
});

describe('REST and GraphQL mirrors', () => {
  const family = uniqueFamily('gql_mirror');

  it('agree on createdAt (microseconds), retentionSeconds and column type names', async () => {
    const client = new GraphQLClient(endpoint);
    await client.request(INGEST, { family, schema, logs });
    await client.request(SET_RETENTION, { family, retention: '3h' });
    const rest = await api(gateway, 'GET', '/api/describe');
    const restTable = (rest.body.tables as Array<{ name: string; createdAt: string; retentionSeconds: number; columns: Column[] }>).find((t) => t.name === family);
    expect(restTable?.createdAt).toMatch(/\.\d{6}Z$/);
    const answer = await client.request<{ describe: { tables: Array<{ name: string; createdAt: string; retentionSeconds: number; columns: Array<Column & { declaredType: string; nullable: boolean }> }> } }>(DESCRIBE);
    const table = answer.describe.tables.find((t) => t.name === family);
    expect(table).toMatchObject({ id: family, createdAt: restTable?.createdAt, retentionSeconds: 10_800 });
    expect(table?.columns.map(({ name, type, declaredType, nullable }) => ({ name, type, declaredType, nullable }))).toEqual(restTable?.columns);
    const familyAnswer = await client.request<{ family: { createdAt: string } }>(FAMILY_A, { name: family });
    expect(familyAnswer.family.createdAt).toBe(restTable?.createdAt);

    // A result column's type is named as describe (REST and GraphQL) names the column's type: a bool field is tinyint in both.
    const described = new Map(restTable?.columns.map((c) => [c.name, c.type]));
    const raw = await client.request<{ rawQuery: { columns: Column[]; results: unknown[] } }>(RAW, { sql: `SELECT id, name, weight, good FROM ${family} ORDER BY id` });
    expect(raw.rawQuery.columns.map((c) => [c.name, c.type])).toEqual([...described.entries()]);
    expect(described.get('good')).toBe('tinyint');
    expect(raw.rawQuery.results[0]).toMatchObject({ good: true });
  });
});
