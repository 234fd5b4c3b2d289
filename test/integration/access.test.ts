/**
 * Access control over real HTTP against real shards (--tokens_file):
 * every endpoint and GraphQL operation without a token, with a wrong token
 * and with each scope; family patterns on ingest, purge, retention, SQL
 * (an allowed family, a forbidden one, a join of both, raw_logs) and the
 * lists (describe, families, shards); both token forms (plain and sha256);
 * a refused request writes nothing; messages name the scope or family
 * needed and never another token; secrets never reach logs, errors,
 * metrics or /readyz; metrics count per token name.
 */
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { createApp, type App } from '../../src/app.js';
import { loadConfig } from '../../src/config/config.js';
import { api, shardsFlag, snapshotFamily, type ApiResponse } from './helpers/gateway.js';

const shards = inject('shards');
const run = randomBytes(4).toString('hex');

/** Every secret, so the test can look for them where they must never be. */
const SECRETS = {
  ingester: `ingest-${randomBytes(12).toString('hex')}`,
  querier: `query-${randomBytes(12).toString('hex')}`,
  boss: `boss-${randomBytes(12).toString('hex')}`,
  prom: `prom-${randomBytes(12).toString('hex')}`,
  dogs: `dogs-${randomBytes(12).toString('hex')}`,
  dogadmin: `dogadmin-${randomBytes(12).toString('hex')}`,
} as const;
type TokenName = keyof typeof SECRETS;

/** Families of this run: the restricted tokens may use `acl<run>_ok_*` only. */
const OK = `acl${run}_ok_a`;
const OK2 = `acl${run}_ok_b`;
const NO = `acl${run}_no_c`;
const PATTERN = `acl${run}_ok_*`;

const sha256 = (text: string): string => createHash('sha256').update(text).digest('hex');

let dir: string;
let app: App;
let url: string;
const logLines: string[] = [];

beforeAll(async () => {
  dir = mkdtempSync(path.join(tmpdir(), 'access-'));
  const tokensFile = path.join(dir, 'tokens.json');
  writeFileSync(
    tokensFile,
    JSON.stringify({
      tokens: [
        { name: 'ingester', token: SECRETS.ingester, scopes: ['ingest'] },
        // The sha256 form: the file holds only the digest.
        { name: 'querier', sha256: sha256(SECRETS.querier), scopes: ['query'] },
        { name: 'boss', token: SECRETS.boss, scopes: ['admin'] },
        { name: 'prom', sha256: sha256(SECRETS.prom).toUpperCase(), scopes: ['metrics'] },
        { name: 'dogs', token: SECRETS.dogs, scopes: ['ingest', 'query'], families: [PATTERN] },
        { name: 'dogadmin', token: SECRETS.dogadmin, scopes: ['admin'], families: [PATTERN] },
      ],
    }),
  );
  const config = loadConfig([`--shards=${shardsFlag(shards)}`, '--server_address=127.0.0.1:0', `--tokens_file=${tokensFile}`, '--log_level=debug'], {});
  // Every log line, to check that no secret is ever written and that requests carry the token's name.
  const logger = pino({ level: 'debug' }, { write: (line: string) => void logLines.push(line) });
  app = await createApp(config, logger, { access: { watchIntervalMs: 0 } });
  url = await app.server.listen({ host: '127.0.0.1', port: 0 });
  for (const family of [OK, OK2, NO]) {
    const answer = await as('boss', 'PUT', '/api/log', { family, schema: { n: 'int' }, logs: [{ n: 1 }, { n: 2 }] });
    expect(answer.status, JSON.stringify(answer.body)).toBe(200);
  }
}, 60_000);

afterAll(async () => {
  await app?.close();
  rmSync(dir, { recursive: true, force: true });
});

/** A request with `token`'s secret (a token name), a literal Authorization header, or none. */
function as(token: TokenName | { header: string } | null, method: string, route: string, body?: unknown, headers: Record<string, string> = {}): Promise<ApiResponse> {
  const authorization: Record<string, string> = token === null ? {} : { authorization: typeof token === 'string' ? `Bearer ${SECRETS[token]}` : token.header };
  return api({ url }, method, route, body, { ...authorization, ...headers });
}

/** POST /graphql. */
function gql(token: TokenName | null, query: string, variables?: Record<string, unknown>): Promise<ApiResponse> {
  return as(token, 'POST', '/graphql', { query, ...(variables === undefined ? {} : { variables }) });
}

function expectUnauthenticated(answer: ApiResponse): void {
  expect(answer.status, JSON.stringify(answer.body)).toBe(401);
  expect(answer.headers.get('www-authenticate')).toBe('Bearer');
}

function expectForbidden(answer: ApiResponse, needed: string): void {
  expect(answer.status, JSON.stringify(answer.body)).toBe(403);
  const error = answer.body.error ?? answer.body.errors?.[0];
  const code = answer.body.error?.code ?? answer.body.errors?.[0]?.extensions?.code;
  expect(code).toBe('FORBIDDEN');
  expect(error.message).toContain(needed);
}

/** Every REST endpoint with the scope it needs; `family` routes name OK. */
const ENDPOINTS: ReadonlyArray<{ method: string; route: string; body?: unknown; scope: 'ingest' | 'query' | 'admin' | 'metrics' }> = [
  { method: 'PUT', route: '/api/log', body: { family: OK2, schema: { n: 'int' }, logs: [{ n: 3 }] }, scope: 'ingest' },
  { method: 'POST', route: '/api/query', body: { query: `SELECT COUNT(*) AS n FROM ${OK}` }, scope: 'query' },
  { method: 'GET', route: '/api/describe', scope: 'query' },
  { method: 'GET', route: `/api/families/${OK}/retention`, scope: 'admin' },
  { method: 'PUT', route: `/api/families/${OK2}/retention`, body: { retention: '30d' }, scope: 'admin' },
  { method: 'DELETE', route: `/api/families/${OK2}/retention`, scope: 'admin' },
  { method: 'DELETE', route: `/api/log/${OK2}?before=2000-01-01T00:00:00Z`, scope: 'admin' },
  { method: 'GET', route: '/metrics', scope: 'metrics' },
];

/** Which of the unrestricted tokens hold `scope` (boss has admin, which implies ingest and query, not metrics; prom has metrics). */
function holders(scope: string): TokenName[] {
  const all: Record<string, TokenName[]> = { ingest: ['ingester', 'boss'], query: ['querier', 'boss'], admin: ['boss'], metrics: ['prom'] };
  return all[scope] ?? [];
}

describe('REST endpoints', () => {
  it.each(ENDPOINTS)('$method $route: 401 without or with a wrong token, 403 naming the scope without it, 2xx with it', async ({ method, route, body, scope }) => {
    expectUnauthenticated(await as(null, method, route, body));
    const wrong = await as({ header: `Bearer ${SECRETS.boss}x` }, method, route, body);
    expectUnauthenticated(wrong);
    expect(wrong.body.error.code).toBe('UNAUTHENTICATED');
    expectUnauthenticated(await as({ header: `Basic ${Buffer.from(`u:${SECRETS.boss}`).toString('base64')}` }, method, route, body));
    for (const token of ['ingester', 'querier', 'boss', 'prom'] as const) {
      const answer = await as(token, method, route, body);
      if (holders(scope).includes(token)) {
        expect(answer.status, `${token}: ${JSON.stringify(answer.body)}`).toBeLessThan(300);
      } else {
        expectForbidden(answer, `"${scope}"`);
        // Names the requesting token and the scope, never another token.
        for (const other of Object.keys(SECRETS).filter((name) => name !== token)) expect(answer.body.error.message).not.toContain(`"${other}"`);
      }
    }
  });

  it('keeps GET / and /healthz open; /readyz answers only {ready} without a metrics or admin token', async () => {
    expect((await as(null, 'GET', '/')).status).toBe(200);
    expect((await as(null, 'GET', '/healthz')).status).toBe(200);
    const bare = await as(null, 'GET', '/readyz');
    expect(bare.status).toBe(200);
    expect(bare.body).toEqual({ ready: true });
    expect((await as('querier', 'GET', '/readyz')).body).toEqual({ ready: true });
    expectUnauthenticated(await as({ header: 'Bearer nope' }, 'GET', '/readyz'));
    for (const token of ['prom', 'boss'] as const) {
      const detailed = await as(token, 'GET', '/readyz');
      expect(detailed.status).toBe(200);
      expect(detailed.body.ready).toBe(true);
      expect(detailed.body.shards.map((s: { name: string }) => s.name).sort()).toEqual(shards.map((s) => s.name).sort());
    }
  });

  it('accepts both token forms: a plain token and a sha256 digest (either case)', async () => {
    expect((await as('ingester', 'PUT', '/api/log', { family: OK2, schema: { n: 'int' }, logs: [{ n: 9 }] })).status).toBe(200);
    expect((await as('querier', 'POST', '/api/query', { query: `SELECT n FROM ${OK} ORDER BY n` })).body.results).toEqual([{ n: 1 }, { n: 2 }]);
    expect((await as('prom', 'GET', '/metrics')).status).toBe(200);
    // The digest itself is not a token.
    expectUnauthenticated(await as({ header: `Bearer ${sha256(SECRETS.querier)}` }, 'GET', '/api/describe'));
    // The scheme is case-insensitive.
    expect((await as({ header: `bearer ${SECRETS.querier}` }, 'GET', '/api/describe')).status).toBe(200);
  });

  it('writes nothing for a refused ingest or purge', async () => {
    const before = await snapshotFamily(shards, OK);
    expectForbidden(await as('querier', 'PUT', '/api/log', { family: OK, schema: { n: 'int', extra: 'string' }, logs: [{ n: 5, extra: 'x' }] }), '"ingest"');
    expectUnauthenticated(await as(null, 'PUT', '/api/log', { family: OK, schema: { n: 'int', extra: 'string' }, logs: [{ n: 5, extra: 'x' }] }));
    expectForbidden(await as('ingester', 'DELETE', `/api/log/${OK}?before=2100-01-01T00:00:00Z`), '"admin"');
    expectForbidden(await as('dogs', 'DELETE', `/api/log/${OK}?before=2100-01-01T00:00:00Z`), '"admin"');
    expect(await snapshotFamily(shards, OK)).toEqual(before);
  });
});

describe('family patterns', () => {
  it('ingest: an allowed family is written, another is 403 naming it and writes nothing', async () => {
    expect((await as('dogs', 'PUT', '/api/log', { family: OK2, schema: { n: 'int' }, logs: [{ n: 7 }] })).status).toBe(200);
    const fresh = `acl${run}_no_fresh`;
    const refused = await as('dogs', 'PUT', '/api/log', { family: fresh, schema: { n: 'int' }, logs: [{ n: 1 }] });
    expectForbidden(refused, `"${fresh}"`);
    expect(refused.body.error.message).toContain(PATTERN);
    const snapshot = await snapshotFamily(shards, fresh);
    expect(snapshot.placements).toEqual([]);
    expect(Object.values(snapshot.columns).every((c) => c === null)).toBe(true);
  });

  it('SQL: an allowed family runs; a forbidden one, a join of both, and raw_logs are 403 before running', async () => {
    const allowed = await as('dogs', 'POST', '/api/query', { query: `SELECT n FROM ${OK} ORDER BY n` });
    expect(allowed.status, JSON.stringify(allowed.body)).toBe(200);
    expect(allowed.body.results).toEqual([{ n: 1 }, { n: 2 }]);
    expectForbidden(await as('dogs', 'POST', '/api/query', { query: `SELECT n FROM ${NO}` }), `"${NO}"`);
    expectForbidden(await as('dogs', 'POST', '/api/query', { query: `SELECT a.n FROM ${OK} a JOIN ${NO} b ON a.n = b.n` }), `"${NO}"`);
    expectForbidden(await as('dogs', 'POST', '/api/query', { query: `SELECT n FROM ${OK} WHERE n IN (SELECT n FROM ${NO})` }), `"${NO}"`);
    expectForbidden(await as('dogs', 'POST', '/api/query', { query: `SELECT COUNT(*) FROM raw_logs WHERE family = '${OK}'` }), '"raw_logs"');
    // An unrestricted token reads raw_logs.
    expect((await as('querier', 'POST', '/api/query', { query: `SELECT COUNT(*) AS n FROM raw_logs WHERE family = '${OK}'` })).body.results).toEqual([{ n: 2 }]);
  });

  it('describe lists only the families the token may see', async () => {
    const names = (answer: ApiResponse): string[] => answer.body.tables.map((t: { name: string }) => t.name).filter((n: string) => n.startsWith(`acl${run}_`));
    expect(names(await as('dogs', 'GET', '/api/describe')).sort()).toEqual([OK, OK2]);
    expect(names(await as('querier', 'GET', '/api/describe')).sort()).toEqual([OK, OK2, NO].sort());
  });

  it('purge and retention: only the token\'s families', async () => {
    expect((await as('dogadmin', 'PUT', `/api/families/${OK}/retention`, { retention: '400d' })).status).toBe(200);
    expect((await as('dogadmin', 'DELETE', `/api/families/${OK}/retention`)).status).toBe(200);
    expectForbidden(await as('dogadmin', 'PUT', `/api/families/${NO}/retention`, { retention: '1d' }), `"${NO}"`);
    expectForbidden(await as('dogadmin', 'GET', `/api/families/${NO}/retention`), `"${NO}"`);
    const before = await snapshotFamily(shards, NO);
    expectForbidden(await as('dogadmin', 'DELETE', `/api/log/${NO}?before=2100-01-01T00:00:00Z`), `"${NO}"`);
    expect(await snapshotFamily(shards, NO)).toEqual(before);
    // admin implies query: within its families.
    expect((await as('dogadmin', 'POST', '/api/query', { query: `SELECT COUNT(*) AS n FROM ${OK}` })).status).toBe(200);
    expectForbidden(await as('dogadmin', 'POST', '/api/query', { query: `SELECT COUNT(*) AS n FROM ${NO}` }), `"${NO}"`);
  });
});

describe('GraphQL', () => {
  it('needs a token for every operation and for introspection; the explorer page loads without one', async () => {
    for (const token of [null, { header: 'Bearer wrong' }] as const) {
      for (const query of ['{ describe { tables { name } } }', '{ __schema { queryType { name } } }', '{ __typename }']) {
        const answer = await as(token, 'POST', '/graphql', { query });
        expectUnauthenticated(answer);
        expect(answer.body.errors[0].extensions.code).toBe('UNAUTHENTICATED');
        expect(answer.body.data).toBeUndefined();
      }
    }
    // GET queries too.
    expectUnauthenticated(await as(null, 'GET', `/graphql?query=${encodeURIComponent('{ __typename }')}`));
    // Introspection with any valid token, even one without query.
    const introspection = await gql('prom', '{ __schema { queryType { name } } }');
    expect(introspection.status).toBe(200);
    expect(introspection.body.data.__schema.queryType.name).toBe('Query');
    const page = await fetch(`${url}/graphql`, { headers: { accept: 'text/html,application/xhtml+xml,*/*;q=0.8' } });
    expect(page.status).toBe(200);
    expect(page.headers.get('content-type')).toContain('text/html');
    await page.text();
  });

  it('checks each field\'s scope before anything runs', async () => {
    expectForbidden(await gql('ingester', `{ rawQuery(query: "SELECT 1 AS one") { results } }`), '"query"');
    for (const query of ['{ describe { tables { name } } }', '{ families { name } }', `{ family(name: "${OK}") { name } }`, '{ shards { name } }']) {
      expectForbidden(await gql('ingester', query), '"query"');
      expect((await gql('querier', query)).body.errors).toBeUndefined();
    }
    const before = await snapshotFamily(shards, OK);
    const ingestLogs = `mutation { ingestLogs(family: "${OK}", schema: { n: "int", g: "string" }, logs: [{ n: 8, g: "x" }]) { ingested } }`;
    expectForbidden(await gql('querier', ingestLogs), '"ingest"');
    expectForbidden(await gql('ingester', `mutation { purgeLogs(family: "${OK}", before: "2100-01-01T00:00:00Z") { deleted } }`), '"admin"');
    expectForbidden(await gql('ingester', `mutation { setRetention(family: "${OK}", retention: "1d") { retentionSeconds } }`), '"admin"');
    expectForbidden(await gql('ingester', `mutation { clearRetention(family: "${OK}") { retentionSeconds } }`), '"admin"');
    // One field it may run and one it may not: the whole operation is refused, the first field did not run.
    const mixed = await gql('ingester', `mutation { a: ingestLogs(family: "${OK}", schema: { n: "int", g: "string" }, logs: [{ n: 8, g: "x" }]) { ingested } b: purgeLogs(family: "${OK}", before: "2100-01-01T00:00:00Z") { deleted } }`);
    expectForbidden(mixed, '"admin"');
    expect(mixed.body.errors[0].path).toEqual(['b']);
    expect(mixed.body.data).toBeUndefined();
    // Through a fragment and a variable as well.
    const viaFragment = await gql('ingester', 'mutation M($f: String!) { ...P } fragment P on Mutation { purgeLogs(family: $f, before: "2100-01-01T00:00:00Z") { deleted } }', { f: OK });
    expectForbidden(viaFragment, '"admin"');
    expect(await snapshotFamily(shards, OK)).toEqual(before);
    const ingested = await gql('ingester', `mutation { ingestLogs(family: "${OK2}", schema: { n: "int" }, logs: [{ n: 8 }]) { ingested } }`);
    expect(ingested.body.data?.ingestLogs.ingested, JSON.stringify(ingested.body)).toBe(1);
  });

  it('applies family patterns to every field that names a family, and filters the lists', async () => {
    const before = await snapshotFamily(shards, NO);
    expectForbidden(await gql('dogs', `{ family(name: "${NO}") { name } }`), `"${NO}"`);
    expectForbidden(await gql('dogs', 'query Q($n: String!) { family(name: $n) { name } }', { n: NO }), `"${NO}"`);
    expectForbidden(await gql('dogs', `mutation { ingestLogs(family: "${NO}", schema: { n: "int" }, logs: [{ n: 4 }]) { ingested } }`), `"${NO}"`);
    expectForbidden(await gql('dogadmin', `mutation { purgeLogs(family: "${NO}", before: "2100-01-01T00:00:00Z") { deleted } }`), `"${NO}"`);
    expectForbidden(await gql('dogs', `{ rawQuery(query: "SELECT n FROM ${NO}") { results } }`), `"${NO}"`);
    expectForbidden(await gql('dogs', `{ rawQuery(query: "SELECT COUNT(*) AS n FROM raw_logs") { results } }`), '"raw_logs"');
    expect(await snapshotFamily(shards, NO)).toEqual(before);

    const ok = await gql('dogs', `{ family(name: "${OK}") { name rows { rows } } rawQuery(query: "SELECT COUNT(*) AS n FROM ${OK}") { results } }`);
    expect(ok.body.errors, JSON.stringify(ok.body)).toBeUndefined();
    expect(ok.body.data.rawQuery.results).toEqual([{ n: 2 }]);
    const lists = await gql('dogs', '{ families { name } describe { tables { name } } shards { name families } }');
    expect(lists.body.errors).toBeUndefined();
    const mine = (names: string[]): string[] => names.filter((n) => n.startsWith(`acl${run}_`)).sort();
    expect(mine(lists.body.data.families.map((f: { name: string }) => f.name))).toEqual([OK, OK2]);
    expect(mine(lists.body.data.describe.tables.map((t: { name: string }) => t.name))).toEqual([OK, OK2]);
    expect(mine(lists.body.data.shards.flatMap((s: { families: string[] }) => s.families))).toEqual([OK, OK2]);
  });
});

describe('secrets and metrics', () => {
  it('counts requests per token name, and never shows a secret in metrics, logs, errors or /readyz', async () => {
    await as('querier', 'GET', '/api/describe');
    await as(null, 'GET', '/api/describe');
    await as('ingester', 'GET', '/api/describe');
    const metrics = await as('prom', 'GET', '/metrics');
    expect(metrics.status).toBe(200);
    const text = String(metrics.body);
    expect(text).toMatch(/databalancer_token_requests_total\{token="querier"\} [1-9]/);
    expect(text).toMatch(/databalancer_token_refused_total\{token="none",reason="unauthenticated"\} [1-9]/);
    expect(text).toMatch(/databalancer_token_refused_total\{token="ingester",reason="forbidden"\} [1-9]/);
    const readyz = JSON.stringify((await as('boss', 'GET', '/readyz')).body);
    const logs = logLines.join('\n');
    for (const secret of Object.values(SECRETS)) {
      for (const [where, haystack] of [
        ['metrics', text],
        ['readyz', readyz],
        ['logs', logs],
      ] as const) {
        expect(haystack.includes(secret), `${where} shows a secret`).toBe(false);
        expect(haystack.includes(sha256(secret)), `${where} shows a digest`).toBe(false);
      }
    }
    // The request log names the token.
    const requestLines = logLines.map((line) => JSON.parse(line) as Record<string, unknown>).filter((line) => line['msg'] === 'request');
    expect(requestLines.some((line) => line['token'] === 'querier' && line['route'] === '/api/describe')).toBe(true);
  });
});
