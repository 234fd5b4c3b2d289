/**
 * GET /graphql for clients that send queries as GET (urql's default client):
 * a GET query answers data, a GET mutation is refused and writes nothing,
 * and the CSRF rule (docs/graphql.md) still refuses what a cross-site page
 * could make a browser send: GET queries marked cross-site by the browser
 * (Sec-Fetch-Site) or carrying cookies, and simple-content-type POSTs.
 * Browsers asking for HTML still get the explorer page.
 */
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { api, holdersOf, ingest, snapshotFamily, startGateway, uniqueFamily, type TestGateway } from './helpers/gateway.js';

const shards = inject('shards');
let gateway: TestGateway;
const family = uniqueFamily('gql_get');

/** The Accept header urql's default fetch exchange sends. */
const URQL_ACCEPT = 'application/graphql-response+json, application/graphql+json, application/json, text/event-stream, multipart/mixed';

interface GraphqlBody {
  data?: Record<string, any> | null;
  errors?: Array<{ message: string; extensions?: { code?: string } }>;
}

/** A GET /graphql the way urql builds it: query, operationName and variables in the URL. */
async function getOperation(query: string, variables: Record<string, unknown> | undefined, headers: Record<string, string> = {}, operationName?: string) {
  const params = new URLSearchParams({ query });
  if (operationName !== undefined) params.set('operationName', operationName);
  if (variables !== undefined) params.set('variables', JSON.stringify(variables));
  return api<GraphqlBody>(gateway, 'GET', `/graphql?${params.toString()}`, undefined, { accept: URQL_ACCEPT, ...headers });
}

const rawQuery = 'query Dogs($sql: String!) { rawQuery(query: $sql) { results } }';

beforeAll(async () => {
  gateway = await startGateway(shards);
  const written = await ingest(gateway, family, { name: 'string', weight: 'int' }, [{ name: 'rex', weight: 30 }]);
  expect(written.status).toBe(200);
}, 60_000);
afterAll(async () => {
  await gateway?.close();
});

describe('GET queries', () => {
  it("answers urql's default GET query with data", async () => {
    const answer = await getOperation(rawQuery, { sql: `SELECT name, weight FROM ${family}` }, {}, 'Dogs');
    expect(answer.status, JSON.stringify(answer.body)).toBe(200);
    expect(answer.body.errors).toBeUndefined();
    expect(answer.body.data?.['rawQuery'].results).toEqual([{ name: 'rex', weight: 30 }]);
  });

  it('answers a GET query without variables, and one from the same origin or typed in the address bar', async () => {
    for (const site of [undefined, 'same-origin', 'none']) {
      const answer = await getOperation('{ shards { name } }', undefined, site === undefined ? {} : { 'sec-fetch-site': site });
      expect(answer.status, `${site}: ${JSON.stringify(answer.body)}`).toBe(200);
      expect(answer.body.data?.['shards'].map((s: { name: string }) => s.name)).toEqual(['shard_a', 'shard_b', 'shard_c']);
    }
  });

  it('refuses a mutation over GET (405) and writes nothing', async () => {
    const target = uniqueFamily('gql_get_mut');
    const mutation = `mutation { ingestLogs(family: "${target}", schema: {n: "int"}, logs: [{n: 1}]) { ingested } }`;
    const before = await snapshotFamily(shards, family);
    const answers = [
      await getOperation(mutation, undefined),
      await getOperation(mutation, undefined, { 'apollo-require-preflight': 'true' }),
      await getOperation(`mutation { purgeLogs(family: "${family}", before: "2999-01-01T00:00:00Z") { deleted } }`, undefined),
    ];
    for (const answer of answers) {
      expect(answer.status, JSON.stringify(answer.body)).toBe(405);
      expect(answer.headers.get('allow')).toBe('POST');
      expect(answer.body.errors?.[0]?.extensions?.code).toBe('BAD_REQUEST');
      expect(answer.body.errors?.[0]?.message).toContain('GET requests only support query operations');
    }
    expect(await holdersOf(shards, target)).toEqual([]);
    expect(await snapshotFamily(shards, family)).toEqual(before);
  });
});

describe('CSRF prevention', () => {
  it('refuses a GET query the browser marks as sent from another site, saying how to send it', async () => {
    for (const site of ['cross-site', 'same-site']) {
      const answer = await getOperation('{ shards { name } }', undefined, { 'sec-fetch-site': site });
      expect(answer.status, JSON.stringify(answer.body)).toBe(400);
      expect(answer.body.data).toBeUndefined();
      expect(answer.body.errors?.[0]?.extensions?.code).toBe('BAD_REQUEST');
      expect(answer.body.errors?.[0]?.message).toContain(`Sec-Fetch-Site: ${site}`);
      expect(answer.body.errors?.[0]?.message).toContain('apollo-require-preflight');
    }
  });

  it('refuses a GET query carrying cookies (the gateway sets none), unless it has a preflight header', async () => {
    const refused = await getOperation('{ shards { name } }', undefined, { cookie: 'session=abc' });
    expect(refused.status, JSON.stringify(refused.body)).toBe(400);
    expect(refused.body.errors?.[0]?.extensions?.code).toBe('BAD_REQUEST');
    expect(refused.body.errors?.[0]?.message).toContain('Cookie');
    const allowed = await getOperation('{ shards { name } }', undefined, { cookie: 'session=abc', 'apollo-require-preflight': 'true' });
    expect(allowed.status, JSON.stringify(allowed.body)).toBe(200);
    expect(allowed.body.data?.['shards']).toHaveLength(3);
  });

  it('still refuses a POST with a content type a cross-site form can send, and writes nothing', async () => {
    const target = uniqueFamily('gql_get_form');
    const body = JSON.stringify({ query: `mutation { ingestLogs(family: "${target}", schema: {n: "int"}, logs: [{n: 1}]) { ingested } }` });
    // curl -d without -H sends application/x-www-form-urlencoded; the gateway parses it as JSON, and CSRF prevention refuses it.
    const answer = await api<GraphqlBody>(gateway, 'POST', '/graphql', body, { 'content-type': 'application/x-www-form-urlencoded' });
    expect(answer.status, JSON.stringify(answer.body)).toBe(400);
    expect(answer.body.errors?.[0]?.extensions?.code).toBe('BAD_REQUEST');
    expect(answer.body.errors?.[0]?.message).toContain('content-type: application/json');
    const plain = await api(gateway, 'POST', '/graphql', body, { 'content-type': 'text/plain' });
    expect(plain.status).toBeGreaterThanOrEqual(400);
    expect(plain.status).toBeLessThan(500);
    expect(await holdersOf(shards, target)).toEqual([]);
  });

  it('still lets a form-typed POST through with a preflight header (as Apollo does)', async () => {
    const answer = await api<GraphqlBody>(gateway, 'POST', '/graphql', JSON.stringify({ query: '{ shards { name } }' }), {
      'content-type': 'application/x-www-form-urlencoded',
      'x-apollo-operation-name': 'Shards',
    });
    expect(answer.status, JSON.stringify(answer.body)).toBe(200);
  });
});

describe('GET /graphql in a browser', () => {
  it('still serves the explorer page to a browser asking for HTML, with or without a query in the URL', async () => {
    const browserAccept = 'text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,*/*;q=0.8';
    for (const path of ['/graphql', `/graphql?query=${encodeURIComponent('{ shards { name } }')}`]) {
      const page = await fetch(`${gateway.url}${path}`, { headers: { accept: browserAccept, 'sec-fetch-site': 'none', cookie: 'other_app=1' } });
      expect(page.status).toBe(200);
      expect(page.headers.get('content-type')).toContain('text/html');
      expect((await page.text()).toLowerCase()).toContain('sandbox');
    }
  });
});
