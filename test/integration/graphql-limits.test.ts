/**
 * GraphQL request limits and switches against a real gateway: depth,
 * statement and cost limits refuse a request before it runs, introspection
 * counts in them, and --graphql_introspection=false turns it off.
 */
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { getIntrospectionQuery, parse } from 'graphql';
import type { TypedDocumentNode } from '@graphql-typed-document-node/core';
import { createClient, type DatabalancerClient } from '../../sdk/index.js';
import { startGateway, uniqueFamily, type TestGateway } from './helpers/gateway.js';
import { failure } from './helpers/sdk-failure.js';

const shards = inject('shards');
let strict: TestGateway;
let closed: TestGateway;
let client: DatabalancerClient;
let closedClient: DatabalancerClient;
const family = uniqueFamily('gql_limits');

beforeAll(async () => {
  [strict, closed] = await Promise.all([
    startGateway(shards, ['--graphql_max_depth=3', '--graphql_max_cost=500']),
    startGateway(shards, ['--graphql_introspection=false']),
  ]);
  client = createClient({ url: `${strict.url}/graphql` });
  closedClient = createClient({ url: `${closed.url}/graphql` });
  await client.ingestLogs({ family, schema: { name: 'string' }, logs: [{ name: 'a' }, { name: 'b' }] });
});
afterAll(async () => {
  await Promise.all([strict?.close(), closed?.close()]);
});

function document(text: string): TypedDocumentNode<Record<string, unknown>, Record<string, unknown>> {
  return parse(text) as TypedDocumentNode<Record<string, unknown>, Record<string, unknown>>;
}

describe('depth limit', () => {
  it('accepts a selection at the limit', async () => {
    const data = await client.request(document(`{ families { retention { retentionSeconds } } }`), {});
    expect(Array.isArray(data['families'])).toBe(true);
  });

  it('refuses a deeper selection with GRAPHQL_VALIDATION_FAILED and HTTP 400, before running it', async () => {
    const error = await failure(client.describe()); // describe { tables { columns { name } } } is 4 deep
    expect(error.code).toBe('GRAPHQL_VALIDATION_FAILED');
    expect(error.status).toBe(400);
    expect(error.extensions).toMatchObject({ limit: 'depth', depth: 4, maxDepth: 3 });
    expect(error.message).toContain('more than the limit of 3');
  });

  it('counts fragments', async () => {
    const error = await failure(
      client.request(document(`query Q { ...F } fragment F on Query { describe { tables { columns { name } } } }`), {}),
    );
    expect(error.extensions).toMatchObject({ limit: 'depth', depth: 4 });
  });
});

describe('cost limit', () => {
  it('charges rows by their limit', async () => {
    const ok = await client.request(document(`{ family(name: "${family}") { rows(limit: 10) { rows } } }`), {});
    expect(ok['family']).toEqual({ rows: { rows: [{ id: expect.any(Number), name: 'a' }, { id: expect.any(Number), name: 'b' }] } });
    // Refused before it runs: an unknown family would otherwise be FAMILY_NOT_FOUND.
    const error = await failure(client.request(document(`{ family(name: "${uniqueFamily('x')}") { rows(limit: 1000) { rows } } }`), {}));
    expect(error.code).toBe('GRAPHQL_VALIDATION_FAILED');
    expect(error.extensions).toMatchObject({ limit: 'cost', maxCost: 500 });
    expect(error.extensions['cost']).toBeGreaterThan(500);
  });

  it('counts a limit given as a variable at the maximum, and every alias', async () => {
    const error = await failure(client.family(family).rows({ limit: 5 }));
    expect(error.code).toBe('GRAPHQL_VALIDATION_FAILED');
    expect(error.extensions).toMatchObject({ limit: 'cost' });
    const aliases = Array.from({ length: 6 }, (_, i) => `r${i}: rows(limit: 100) { hasMore }`).join(' ');
    const many = await failure(client.request(document(`{ family(name: "${family}") { ${aliases} } }`), {}));
    expect(many.extensions).toMatchObject({ limit: 'cost' });
  });

  it('multiplies the children of list fields', async () => {
    const columns = 'columns { name type nullable declaredType }';
    const ok = await client.request(document(`{ families { ${columns} } }`), {}); // 1 + 10 * (1 + 10 * 4) = 411
    expect(Array.isArray(ok['families'])).toBe(true);
    const error = await failure(client.request(document(`{ families { a: ${columns} b: ${columns} } }`), {})); // 821
    expect(error.extensions).toMatchObject({ limit: 'cost', cost: 821, maxCost: 500 });
  });
});

describe('statement limit', () => {
  it('counts a statement field below a list once per assumed item', async () => {
    // families runs one statement, and rows one per family: 1 + 10 > 10.
    const error = await failure(client.request(document(`{ families { rows(limit: 1) { hasMore } } }`), {}));
    expect(error.code).toBe('GRAPHQL_VALIDATION_FAILED');
    expect(error.extensions).toMatchObject({ limit: 'statements', statements: 11, maxStatements: 10 });
    expect(error.message).toContain('--graphql_max_statements');
  });
});

describe('introspection', () => {
  it('counts in the depth and cost limits (the defaults fit the standard query: graphql-hardening.test.ts)', async () => {
    const small = await client.request(document(`{ __typename __type(name: "Family") { name fields { name } } }`), {});
    expect(small['__type']).toMatchObject({ name: 'Family' });
    const error = await failure(client.request(document(getIntrospectionQuery()), {}));
    expect(error.code).toBe('GRAPHQL_VALIDATION_FAILED');
    // 6 levels deep (ofType adds none) and costing about 5,000.
    expect(error.errors.map((e) => e.extensions?.['limit'])).toEqual(['depth', 'cost']);
    expect(error.extensions).toMatchObject({ limit: 'depth', depth: 6, maxDepth: 3 });
    const deep = await failure(client.request(document(`{ __schema { types { fields { type { name } } } } }`), {}));
    expect(deep.extensions).toMatchObject({ limit: 'depth', depth: 5, maxDepth: 3 });
  });

  it('is refused when --graphql_introspection=false, while operations still work', async () => {
    const error = await failure(closedClient.request(document(getIntrospectionQuery()), {}));
    expect(error.code).toBe('GRAPHQL_VALIDATION_FAILED');
    expect((await closedClient.family(family).rows()).rows).toHaveLength(2);
  });
});
