/**
 * GraphQL hardening against a real gateway: an introspection alias bomb, a
 * rawQuery fan-out, a persisted query with a wrong hash, and deeply nested
 * variables or documents are each refused with a 400-class GraphQL error,
 * fast and before any SQL runs, while other clients keep being served; the
 * standard introspection query and small multi-statement operations still
 * work under the default limits.
 */
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { getIntrospectionQuery } from 'graphql';
import { startCluster, type Cluster, type ServerSpec } from '../../scripts/lib/mariadb-cluster.js';
import { api, onShard, query, startGateway, tableExists, uniqueFamily, type ApiResponse, type TestGateway } from './helpers/gateway.js';

const shards = inject('shards');
/** A gateway with the default limits over the shared shards. */
let gateway: TestGateway;
/** A private one-server cluster, so its statement counter sees only this file's gateway. */
let cluster: Cluster;
let privateShard: ServerSpec;
let counted: TestGateway;
const family = uniqueFamily('gql_hard');

interface GraphqlBody {
  data?: Record<string, unknown> | null;
  errors?: Array<{ message: string; extensions?: Record<string, unknown> }>;
}

/** Asks for application/graphql-response+json, so that refusals are 4xx (graphql-clients.test.ts: application/json clients get 200). */
function graphql(target: { url: string }, body: unknown): Promise<ApiResponse<GraphqlBody>> {
  return api<GraphqlBody>(target, 'POST', '/graphql', body, { accept: 'application/graphql-response+json' });
}

/** The server's count of statements received (MariaDB `Questions`). */
async function questions(spec: ServerSpec): Promise<number> {
  const rows = await onShard<{ Value: string }>(spec, "SHOW GLOBAL STATUS LIKE 'Questions'", [], null);
  return Number(rows[0]?.Value);
}

beforeAll(async () => {
  cluster = await startCluster({ count: 1, names: ['gqlh_a'] });
  privateShard = cluster.servers[0] as ServerSpec;
  [gateway, counted] = await Promise.all([
    startGateway(shards),
    // A smaller row cap, so more rawQuery fit the default cost limit (each costs its row cap).
    startGateway(cluster.servers, ['--query_max_rows=1000', '--purge_interval_seconds=0']),
  ]);
  const written = await api(gateway, 'PUT', '/api/log', { family, schema: { name: 'string' }, logs: [{ name: 'a' }, { name: 'b' }] });
  expect(written.status).toBe(200);
  expect((await api(counted, 'PUT', '/api/log', { family, schema: { name: 'string' }, logs: [{ name: 'a' }] })).status).toBe(200);
}, 120_000);
afterAll(async () => {
  await Promise.all([gateway?.close(), counted?.close()]);
  await cluster?.stop();
});

describe('introspection alias bomb', () => {
  const aliases = (n: number): string =>
    `{ ${Array.from({ length: n }, (_, i) => `a${i}: __schema { types { name fields { name args { name type { name } } } } }`).join(' ')} }`;

  it('refuses 60,000 aliases of __schema (4.8 MB) with GRAPHQL_VALIDATION_FAILED, while /healthz and other clients are served', async () => {
    const bomb = aliases(60_000);
    expect(bomb.length).toBeGreaterThan(4_000_000);
    const [refused, health, other] = await Promise.all([
      graphql(gateway, { query: bomb }),
      api(gateway, 'GET', '/healthz'),
      query(gateway, `SELECT name FROM ${family} ORDER BY id`),
    ]);
    expect(refused.status).toBe(400);
    expect(refused.body.data).toBeUndefined();
    expect(refused.body.errors?.[0]?.extensions?.['code']).toBe('GRAPHQL_VALIDATION_FAILED');
    expect(refused.body.errors?.[0]?.message).toMatch(/tokens/);
    expect(health.status).toBe(200);
    expect(other.status).toBe(200);
    expect(other.body.results).toEqual([{ name: 'a' }, { name: 'b' }]);
  }, 60_000);

  it('refuses a small alias bomb that fits the token cap by its cost, introspection fields priced like lists', async () => {
    const refused = await graphql(gateway, { query: aliases(1000) });
    expect(refused.status).toBe(400);
    expect(refused.body.errors?.[0]?.extensions).toMatchObject({ code: 'GRAPHQL_VALIDATION_FAILED', limit: 'cost', maxCost: 50_000 });
  });

  it('still answers the standard introspection query (Sandbox, codegen) under the default limits', async () => {
    for (const text of [getIntrospectionQuery(), getIntrospectionQuery({ descriptions: true, specifiedByUrl: true, directiveIsRepeatable: true, schemaDescription: true, inputValueDeprecation: true })]) {
      const answer = await graphql(gateway, { query: text, operationName: 'IntrospectionQuery' });
      expect(answer.body.errors).toBeUndefined();
      expect(answer.status).toBe(200);
      expect((answer.body.data?.['__schema'] as { types: unknown[] }).types.length).toBeGreaterThan(10);
    }
  });
});

describe('statement fan-out', () => {
  it('refuses 3,000 aliases of rawQuery at validation: no SQL runs, and another client is served meanwhile', async () => {
    const fanOut = `{ ${Array.from({ length: 3000 }, (_, i) => `q${i}: rawQuery(query: "SELECT name FROM ${family}") { truncated }`).join(' ')} }`;
    const before = await questions(privateShard);
    const [refused, other] = await Promise.all([graphql(counted, { query: fanOut }), query(counted, `SELECT name FROM ${family}`)]);
    expect(refused.status).toBe(400);
    expect(refused.body.data).toBeUndefined();
    const error = refused.body.errors?.[0];
    expect(error?.extensions?.['code']).toBe('GRAPHQL_VALIDATION_FAILED');
    expect(other.status).toBe(200);
    expect(other.body.results).toEqual([{ name: 'a' }]);
    // The other client's query and this counter's own statements, not 3,000.
    expect((await questions(privateShard)) - before).toBeLessThan(50);
  });

  it('counts statement-running fields, aliases and fragments included, naming the limit and its flag', async () => {
    const eleven = `query Many { ...F } fragment F on Query { ${Array.from({ length: 11 }, (_, i) => `q${i}: rawQuery(query: "SELECT 1 AS one") { truncated }`).join(' ')} }`;
    const refused = await graphql(counted, { query: eleven });
    expect(refused.status).toBe(400);
    const error = refused.body.errors?.[0];
    expect(error?.extensions).toMatchObject({ code: 'GRAPHQL_VALIDATION_FAILED', limit: 'statements', statements: 11, maxStatements: 10 });
    expect(error?.message).toContain('graphql_max_statements');
  });

  it('stops at the limit while running, when a list holds more items than validation assumed', async () => {
    // families plus rows below it count 1 + 10 at validation: the limit of 11 lets it through.
    const loose = await startGateway(cluster.servers, ['--graphql_max_statements=11', '--purge_interval_seconds=0']);
    try {
      const extra = Array.from({ length: 11 }, () => uniqueFamily('gql_many'));
      for (const name of extra) expect((await api(loose, 'PUT', '/api/log', { family: name, schema: { n: 'int' }, logs: [{ n: 1 }] })).status).toBe(200);
      const answer = await graphql(loose, { query: '{ families { name rows(limit: 1) { hasMore } } }' });
      expect(answer.status).toBe(200);
      expect(answer.body.data).toBeNull();
      const error = answer.body.errors?.find((e) => e.extensions?.['code'] !== undefined);
      expect(error?.extensions).toMatchObject({ code: 'QUERY_TOO_COMPLEX', limit: 'statements', maxStatements: 11 });
      expect(error?.message).toContain('--graphql_max_statements');
      // Within the limit the same operation runs.
      const one = await graphql(loose, { query: `{ family(name: "${family}") { rows(limit: 1) { hasMore } } }` });
      expect(one.body.data).toEqual({ family: { rows: { hasMore: false } } });
    } finally {
      await loose.close();
    }
  });

  it('runs an operation with two rawQuery aliases', async () => {
    const answer = await graphql(counted, {
      query: `{ a: rawQuery(query: "SELECT name FROM ${family}") { results truncated } b: rawQuery(query: "SELECT COUNT(*) AS c FROM ${family}") { results } }`,
    });
    expect(answer.body.errors).toBeUndefined();
    expect(answer.body.data).toEqual({ a: { results: [{ name: 'a' }], truncated: false }, b: { results: [{ c: 1 }] } });
  });

  it('prices rawQuery by its row cap: the default cap fits five per operation, not six', async () => {
    const rawQueries = (n: number): string => `{ ${Array.from({ length: n }, (_, i) => `q${i}: rawQuery(query: "SELECT ${i} AS n") { results }`).join(' ')} }`;
    const five = await graphql(gateway, { query: rawQueries(5) });
    expect(five.body.errors).toBeUndefined();
    const six = await graphql(gateway, { query: rawQueries(6) });
    expect(six.status).toBe(400);
    expect(six.body.errors?.[0]?.extensions).toMatchObject({ code: 'GRAPHQL_VALIDATION_FAILED', limit: 'cost' });
  });
});

describe('automatic persisted queries', () => {
  it('answers a wrong sha256 with a 400 GraphQL error, not 500', async () => {
    const answer = await graphql(gateway, {
      query: '{ __typename }',
      extensions: { persistedQuery: { version: 1, sha256Hash: '0'.repeat(64) } },
    });
    expect(answer.status).toBe(400);
    expect(answer.body.errors?.[0]?.extensions?.['code']).toBe('BAD_REQUEST');
    expect(answer.body.errors?.[0]?.message).toMatch(/sha/);
  });

  it('answers an unsupported persisted query version with a 400 GraphQL error', async () => {
    const answer = await graphql(gateway, { query: '{ __typename }', extensions: { persistedQuery: { version: 2, sha256Hash: '0'.repeat(64) } } });
    expect(answer.status).toBe(400);
    expect(answer.body.errors?.[0]?.extensions?.['code']).toBe('BAD_REQUEST');
  });

  it('answers an unknown hash with PERSISTED_QUERY_NOT_FOUND', async () => {
    const answer = await graphql(gateway, { extensions: { persistedQuery: { version: 1, sha256Hash: '1'.repeat(64) } } });
    expect(answer.body.errors?.[0]?.extensions?.['code']).toBe('PERSISTED_QUERY_NOT_FOUND');
    expect(answer.status).toBeLessThan(500);
  });
});

describe('deep nesting', () => {
  /** JSON text of `{"key": {"key": ... leaf}}`, `depth` objects deep (JSON.stringify itself would overflow). */
  function nested(depth: number, key: string, leaf: string): string {
    return `{"${key}":`.repeat(depth) + leaf + '}'.repeat(depth);
  }
  function body(query: string, variables: string): string {
    return `{"query":${JSON.stringify(query)},"variables":${variables}}`;
  }
  /** A refusal must be a 400 with a clear code (INVALID_JSON when the body parser's depth check refuses it first). */
  function expectRefused(answer: ApiResponse<GraphqlBody & { error?: { code: string } }>): void {
    expect(answer.status).toBe(400);
    const code = answer.body.errors?.[0]?.extensions?.['code'] ?? answer.body.error?.code;
    expect(['BAD_USER_INPUT', 'GRAPHQL_VALIDATION_FAILED', 'INVALID_JSON']).toContain(code);
  }

  it('refuses a JSONObject variable nested 5,000 deep and writes nothing', async () => {
    const target = uniqueFamily('gql_deep');
    const answer = await graphql(
      gateway,
      body(
        `mutation M($schema: JSONObject!, $logs: [JSONObject!]!) { ingestLogs(family: "${target}", schema: $schema, logs: $logs) { ingested } }`,
        `{"schema":{"name":"json"},"logs":[{"name":${nested(5000, 'a', '1')}}]}`,
      ),
    );
    expectRefused(answer);
    expect(await tableExists(shards[0] as ServerSpec, target)).toBe(false);
    const placed = await query(gateway, `SELECT COUNT(*) AS c FROM raw_logs WHERE family = '${target}'`);
    expect(placed.body.results ?? [{ c: 0 }]).toEqual([{ c: 0 }]);
  });

  it('refuses a RowFilter variable nested 5,000 deep', async () => {
    const answer = await graphql(
      gateway,
      body(`query R($where: RowFilter) { family(name: "${family}") { rows(where: $where) { rows } } }`, `{"where":${nested(5000, 'not', '{"field":"name","eq":"a"}')}}`),
    );
    expectRefused(answer);
  });

  it('refuses a document nested 5,000 deep (selections or an inline filter)', async () => {
    const selections = `{ ${'family(name: "x") { '.repeat(1)}${'retention { '.repeat(5000)}family${' }'.repeat(5001)} }`;
    expectRefused(await graphql(gateway, { query: selections }));
    const filter = `{ family(name: "${family}") { rows(where: ${'{not: '.repeat(5000)}{field: "name", eq: "a"}${'}'.repeat(5000)}) { rows } } }`;
    expectRefused(await graphql(gateway, { query: filter }));
  });
});
