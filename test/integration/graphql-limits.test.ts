/**
 * GraphQL request limits and switches against a real gateway: depth and cost
 * limits refuse a request before it runs, introspection stays usable under
 * them, and --graphql_introspection=false turns it off.
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
    const error = await failure(client.request(document(`{ families { rows(limit: 100) { hasMore } } }`), {}));
    expect(error.extensions).toMatchObject({ limit: 'cost' });
  });
});

describe('introspection', () => {
  it('is free of the depth and cost limits, so Sandbox and codegen work', async () => {
    const data = await client.request(document(getIntrospectionQuery()), {});
    expect(data['__schema']).toBeDefined();
  });

  it('is refused when --graphql_introspection=false, while operations still work', async () => {
    const error = await failure(closedClient.request(document(getIntrospectionQuery()), {}));
    expect(error.code).toBe('GRAPHQL_VALIDATION_FAILED');
    expect((await closedClient.family(family).rows()).rows).toHaveLength(2);
  });
});
