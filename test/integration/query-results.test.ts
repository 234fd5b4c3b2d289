/**
 * What a query answers, past the validator: result column names that are
 * special to JavaScript objects, duplicate column names, the byte budget of a
 * result (query_max_bytes, bounded while the rows arrive), binary columns as
 * base64, server-information functions, SQL past the parser's limits, and
 * server error messages that quote the user's SQL only (not the row cap's
 * rewrite). Over REST and GraphQL, against real shards.
 */
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { api, ingest, onShard, query, startGateway, uniqueFamily, type ApiResponse, type TestGateway } from './helpers/gateway.js';

const shards = inject('shards');
/** Defaults, except 100,000 rows per result: the byte budget has to be what stops a large result (GraphQL prices rawQuery by that cap, so GraphQL tests use `small`). */
let gateway: TestGateway;
/** --query_max_bytes=1000000 */
let small: TestGateway;
/** --query_max_rows=3 */
let fewRows: TestGateway;
const family = uniqueFamily('qres');

interface GraphqlBody {
  data?: Record<string, any> | null;
  errors?: Array<{ message: string; extensions?: Record<string, unknown> }>;
}

function graphql(target: { url: string }, queryText: string, variables: Record<string, unknown> = {}): Promise<ApiResponse<GraphqlBody>> {
  return api<GraphqlBody>(target, 'POST', '/graphql', { query: queryText, variables });
}

function rawQuery(target: { url: string }, sql: string): Promise<ApiResponse<GraphqlBody>> {
  return graphql(
    target,
    'query Q($sql: String!) { rawQuery(query: $sql) { results columns { name type } truncated truncatedReason } }',
    { sql },
  );
}

beforeAll(async () => {
  [gateway, small, fewRows] = await Promise.all([
    startGateway(shards, ['--query_max_rows=100000']),
    startGateway(shards, ['--query_max_bytes=1000000']),
    startGateway(shards, ['--query_max_rows=3']),
  ]);
  const answer = await ingest(
    gateway,
    family,
    { n: 'int', payload: 'string' },
    Array.from({ length: 40 }, (_, i) => ({ n: i, payload: String(i % 10).repeat(50_000) })),
  );
  expect(answer.status).toBe(200);
});
afterAll(async () => {
  await Promise.all([gateway?.close(), small?.close(), fewRows?.close()]);
});

/** The gateway still answers queries on the family's shard (its connections were not broken). */
async function stillServes(target: TestGateway): Promise<void> {
  const answer = await query(target, `SELECT COUNT(*) AS c FROM ${family}`);
  expect(answer.status).toBe(200);
  expect(answer.body.results).toEqual([{ c: 40 }]);
}

describe('column names special to JavaScript objects', () => {
  const names = ['__proto__', '__defineGetter__', '__defineSetter__', '__lookupGetter__', '__lookupSetter__', 'constructor', 'toString', 'hasOwnProperty', 'valueOf'];

  it('answers every one as an ordinary column, over REST and GraphQL, and the shard stays usable', async () => {
    const sql = `SELECT ${names.map((name, i) => `n + ${i} AS ${name}`).join(', ')} FROM ${family} WHERE n = 1`;
    const rest = await query(gateway, sql);
    expect(rest.status).toBe(200);
    const row = rest.body.results[0] as Record<string, unknown>;
    expect(Object.keys(row)).toEqual(names);
    names.forEach((name, i) => expect(Object.getOwnPropertyDescriptor(row, name)?.value).toBe(1 + i));

    const gql = await rawQuery(small, sql);
    expect(gql.body.errors).toBeUndefined();
    const result = gql.body.data?.['rawQuery'];
    expect(result.columns.map((c: { name: string }) => c.name)).toEqual(names);
    expect(Object.keys(result.results[0])).toEqual(names);
    expect(Object.getOwnPropertyDescriptor(result.results[0], '__proto__')?.value).toBe(1);
    await stillServes(gateway);
  });

  it('answers SELECT 1 AS __defineGetter__ without a family (no 503)', async () => {
    const answer = await query(gateway, 'SELECT 1 AS __defineGetter__, 2 AS `__proto__`');
    expect(answer.status).toBe(200);
    expect(answer.body.results).toHaveLength(1);
    expect(Object.keys(answer.body.results[0])).toEqual(['__defineGetter__', '__proto__']);
  });
});

describe('duplicate result column names', () => {
  it.each([
    ['two aliases', 'SELECT 1 AS x, 2 AS x', 'x'],
    ['a self-join', `SELECT a.id, b.id FROM ${family} a JOIN ${family} b ON a.id = b.id`, 'id'],
    ['a star and a column', `SELECT *, n FROM ${family}`, 'n'],
    ['a derived table with duplicates', 'SELECT * FROM (SELECT 1 AS x, 2 AS x) t', 'x'],
  ])('%s is 400 DUPLICATE_COLUMN_NAME naming the column', async (_label, sql, column) => {
    const answer = await query(gateway, sql);
    expect(answer.status).toBe(400);
    expect(answer.body.error.code).toBe('DUPLICATE_COLUMN_NAME');
    expect(answer.body.error.message).toContain(`"${column}"`);
    expect(answer.body.error.message).toMatch(/alias/i);
    expect(answer.body.error.message).not.toContain('databalancer_capped');
  });

  it('refuses them over GraphQL too, and the shard stays usable', async () => {
    const answer = await rawQuery(small, 'SELECT 1 AS x, 2 AS x');
    expect(answer.body.errors?.[0]?.extensions?.['code']).toBe('DUPLICATE_COLUMN_NAME');
    await stillServes(gateway);
  });

  it('names that differ only by case are distinct keys and both come back', async () => {
    const answer = await query(gateway, 'SELECT 1 AS x, 2 AS X');
    expect(answer.status).toBe(200);
    expect(answer.body.results).toEqual([{ x: 1, X: 2 }]);
  });
});

describe('the byte budget (query_max_bytes)', () => {
  it('cuts a result past the budget: 200 with the rows that fit, truncated and the reason', async () => {
    // 40 rows of ~50 KB: about 2 MB; the budget is 1,000,000 bytes.
    const answer = await query(small, `SELECT n, payload FROM ${family} ORDER BY n`);
    expect(answer.status).toBe(200);
    expect(answer.body.truncated).toBe(true);
    expect(answer.body.truncatedReason).toBe('bytes');
    const rows = answer.body.results as Array<{ n: number; payload: string }>;
    expect(rows.length).toBeGreaterThan(10);
    expect(rows.length).toBeLessThan(20);
    expect(rows.map((r) => r.n)).toEqual(rows.map((_, i) => i));
    expect(JSON.stringify(answer.body.results).length).toBeLessThanOrEqual(1_000_000);
    await stillServes(small);
  });

  it('a result under the budget is whole and not truncated', async () => {
    const answer = await query(small, `SELECT n, LEFT(payload, 10) AS b FROM ${family} ORDER BY n`);
    expect(answer.status).toBe(200);
    expect(answer.body.truncated).toBeUndefined();
    expect(answer.body.truncatedReason).toBeUndefined();
    expect(answer.body.results).toHaveLength(40);
  });

  it('the row cap says truncatedReason "rows"', async () => {
    const answer = await query(fewRows, `SELECT n FROM ${family} ORDER BY n`);
    expect(answer.status).toBe(200);
    expect(answer.body).toEqual({ results: [{ n: 0 }, { n: 1 }, { n: 2 }], truncated: true, truncatedReason: 'rows' });
  });

  it('stops a huge result while it arrives: 200, the server query ends, and the shard stays usable', async () => {
    // 100,000 rows of 100 KB (10 GB, far past any time limit if it were read in full) and,
    // the reported case, 30 rows of 10 MB (300 MB) whose first row alone is past the budget.
    const marker = `qres_stop_${Date.now()}`;
    const huge = `WITH RECURSIVE r(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM r WHERE n < 100000) SELECT n, REPEAT('a', 100000) AS x, '${marker}' AS m FROM r`;
    const answer = await query(gateway, huge);
    expect(answer.status).toBe(200);
    expect(answer.body.truncated).toBe(true);
    expect(answer.body.truncatedReason).toBe('bytes');
    expect(answer.body.results.length).toBeGreaterThan(10);
    expect(answer.body.results.length).toBeLessThan(100);

    const tall = await query(gateway, "WITH RECURSIVE r(n) AS (SELECT 1 UNION ALL SELECT n+1 FROM r WHERE n<30) SELECT n, REPEAT('a',10000000) AS x FROM r");
    expect(tall.status).toBe(200);
    expect(tall.body).toEqual({ results: [], truncated: true, truncatedReason: 'bytes' });

    // The server stops sending once the gateway lets go of the connection
    // (no table: any shard may have run it, so look at all of them).
    let running = -1;
    for (let attempt = 0; attempt < 100 && running !== 0; attempt++) {
      if (attempt > 0) await new Promise((resolve) => setTimeout(resolve, 200));
      const counts = await Promise.all(
        shards.map((s) =>
          onShard<{ c: number }>(
            s,
            `SELECT COUNT(*) AS c FROM information_schema.PROCESSLIST WHERE INFO LIKE '%${marker}%' AND INFO NOT LIKE '%PROCESSLIST%'`,
            [],
            null,
          ),
        ),
      );
      running = counts.reduce((sum, rows) => sum + Number(rows[0]?.c ?? 0), 0);
    }
    expect(running).toBe(0);
    await stillServes(gateway);
  });

  it('GraphQL rawQuery says truncatedReason, and family rows pages stay under the budget', async () => {
    const raw = await rawQuery(small, `SELECT n, payload FROM ${family} ORDER BY n`);
    expect(raw.body.errors).toBeUndefined();
    expect(raw.body.data?.['rawQuery']).toMatchObject({ truncated: true, truncatedReason: 'bytes' });
    const whole = await rawQuery(small, `SELECT n FROM ${family} WHERE n < 2 ORDER BY n`);
    expect(whole.body.data?.['rawQuery']).toMatchObject({ results: [{ n: 0 }, { n: 1 }], truncated: false, truncatedReason: null });

    const page = await graphql(small, 'query R($f: String!) { family(name: $f) { rows(limit: 40) { rows hasMore } } }', { f: family });
    expect(page.body.errors).toBeUndefined();
    const rows = page.body.data?.['family'].rows;
    expect(rows.rows.length).toBeGreaterThan(10);
    expect(rows.rows.length).toBeLessThan(40);
    expect(rows.hasMore).toBe(true);
    expect(JSON.stringify(rows.rows).length).toBeLessThanOrEqual(1_000_000);
  });
});

describe('binary columns', () => {
  it('come back as base64, typed binary(base64); text stays text', async () => {
    const sql = "SELECT UNHEX('FF00') AS b, CAST('hi' AS BINARY) AS c, 'plain' AS t, NULL AS z";
    const rest = await query(gateway, sql);
    expect(rest.status).toBe(200);
    expect(rest.body.results).toEqual([{ b: '/wA=', c: 'aGk=', t: 'plain', z: null }]);
    const gql = await rawQuery(small, sql);
    expect(gql.body.errors).toBeUndefined();
    expect(gql.body.data?.['rawQuery'].columns).toEqual([
      { name: 'b', type: 'binary(base64)' },
      { name: 'c', type: 'binary(base64)' },
      { name: 't', type: 'varchar' },
      { name: 'z', type: 'null' },
    ]);
    expect(Buffer.from(gql.body.data?.['rawQuery'].results[0].b, 'base64')).toEqual(Buffer.from([0xff, 0x00]));
  });
});

describe('refusals that used to leak or break', () => {
  it.each([
    ['USER()', 'SELECT USER()', 'USER'],
    ['CURRENT_USER', 'SELECT CURRENT_USER', 'CURRENT_USER'],
    ['VERSION()', 'SELECT VERSION() AS v', 'VERSION'],
    ['CONNECTION_ID()', `SELECT CONNECTION_ID() FROM ${family}`, 'CONNECTION_ID'],
    ['DATABASE()', 'SELECT DATABASE()', 'DATABASE'],
    ['LAST_INSERT_ID()', 'SELECT LAST_INSERT_ID()', 'LAST_INSERT_ID'],
    ['UUID_SHORT()', 'SELECT UUID_SHORT()', 'UUID_SHORT'],
  ])('%s is 400 QUERY_NOT_READ_ONLY naming the function', async (_label, sql, fn) => {
    const answer = await query(gateway, sql);
    expect(answer.status).toBe(400);
    expect(answer.body.error.code).toBe('QUERY_NOT_READ_ONLY');
    expect(answer.body.error.message).toContain(`function ${fn}`);
    expect(answer.body.error.function).toBe(fn);
  });

  it.each([
    ['45,000 added terms', `SELECT ${Array.from({ length: 45_000 }, () => '1').join('+')}`],
    ['a 3,000-part UNION ALL', Array.from({ length: 3000 }, () => 'SELECT 1').join(' UNION ALL ')],
    ['a 98 KB select list', `SELECT ${Array.from({ length: 49_000 }, () => '1').join(',')}`],
    ['1,500 nested parentheses', `SELECT ${'('.repeat(1500)}1${')'.repeat(1500)}`],
    ['101,000 characters', `SELECT 1${' '.repeat(101_000)}`],
  ])('%s is 400 QUERY_TOO_COMPLEX, not a 500', async (_label, sql) => {
    const answer = await query(gateway, sql);
    expect(answer.status).toBe(400);
    expect(answer.body.error.code).toBe('QUERY_TOO_COMPLEX');
    expect(answer.body.error.message).not.toMatch(/call stack|RangeError/i);
    expect(answer.body.error.message).toMatch(/query_max_(tokens|length)|simplify/);
  });

  it('a misspelled SELECT is QUERY_PARSE_FAILED over REST and GraphQL', async () => {
    const rest = await query(gateway, 'SELEC 1');
    expect(rest.status).toBe(400);
    expect(rest.body.error.code).toBe('QUERY_PARSE_FAILED');
    const gql = await rawQuery(small, 'SELEC 1');
    expect(gql.body.errors?.[0]?.extensions?.['code']).toBe('QUERY_PARSE_FAILED');
  });

  it.each([
    ['an appended LIMIT', `SELECT '{}'->>'$.a' AS v FROM ${family}`, `near '>>'$.a' AS v FROM ${family}' at line 1`],
    ['a lowered LIMIT', `SELECT '{}'->'$.a' AS v FROM ${family} LIMIT 20000`, `near '>'$.a' AS v FROM ${family} LIMIT 20000' at line 1`],
  ])("a server syntax error quotes the user's SQL, not the row cap's rewrite (%s)", async (_label, sql, near) => {
    // --query_max_rows=3: the gateway asks for 4 rows.
    const answer = await query(fewRows, sql);
    expect(answer.status).toBe(400);
    expect(answer.body.error.code).toBe('QUERY_FAILED');
    expect(answer.body.error.message).toContain(near);
    expect(answer.body.error.message).not.toMatch(/LIMIT 4|databalancer_capped|at line [2-9]/);
  });
});
