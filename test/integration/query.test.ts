/**
 * The query API: only read-only SQL runs, unknown families are 404, the row
 * cap answers `truncated: true`, the statement time limit answers 504, and
 * the reader connection itself cannot write.
 */
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { api, ingest, onShard, query, snapshotFamily, specNamed, startGateway, tableExists, uniqueFamily, type TestGateway } from './helpers/gateway.js';

const shards = inject('shards');
/** --query_max_rows=5 --query_timeout_ms=500 (headroom for a loaded machine; the slow query needs minutes) */
let gateway: TestGateway;
const family = uniqueFamily('q');
let home: string;

beforeAll(async () => {
  gateway = await startGateway(shards, ['--query_max_rows=5', '--query_timeout_ms=500']);
  const answer = await ingest(
    gateway,
    family,
    { n: 'int', label: 'string' },
    Array.from({ length: 3000 }, (_, i) => ({ n: i, label: `row ${i}` })),
  );
  expect(answer.status).toBe(200);
  home = answer.body.shard;
});
afterAll(async () => {
  await gateway.close();
});

describe('query API', () => {
  it.each([
    ['DROP TABLE', () => `DROP TABLE ${family}`, 'QUERY_NOT_READ_ONLY'],
    ['DELETE', () => `DELETE FROM ${family}`, 'QUERY_NOT_READ_ONLY'],
    ['INSERT ... SELECT', () => `INSERT INTO ${family} (n) SELECT n FROM ${family}`, 'QUERY_NOT_READ_ONLY'],
    ['SELECT ... FOR UPDATE', () => `SELECT * FROM ${family} FOR UPDATE`, 'QUERY_NOT_READ_ONLY'],
    ['SELECT ... INTO OUTFILE', () => `SELECT * FROM ${family} INTO OUTFILE '/tmp/x'`, 'QUERY_NOT_READ_ONLY'],
    ['SLEEP', () => `SELECT SLEEP(2) FROM ${family}`, 'QUERY_NOT_READ_ONLY'],
    ['BENCHMARK', () => 'SELECT BENCHMARK(100000000, MD5(1))', 'QUERY_NOT_READ_ONLY'],
    ['information_schema', () => 'SELECT * FROM information_schema.TABLES', 'QUERY_TABLE_FORBIDDEN'],
    ['mysql.user', () => 'SELECT * FROM mysql.user', 'QUERY_TABLE_FORBIDDEN'],
    ['two statements', () => `SELECT 1; DROP TABLE ${family}`, 'QUERY_NOT_READ_ONLY'],
    ['unparseable SQL', () => `SELECT n FROM ${family} WHERE (`, 'QUERY_PARSE_FAILED'],
    ['not SQL at all', () => 'this is not sql', 'QUERY_PARSE_FAILED'],
    ['a statement that is not SELECT', () => `SHOW TABLES`, 'QUERY_NOT_READ_ONLY'],
  ])('%s is 400 and changes nothing', async (_label, sql, code) => {
    const before = await snapshotFamily(shards, family);
    const answer = await query(gateway, sql());
    expect(answer.status).toBe(400);
    expect(answer.body.error.code).toBe(code);
    expect(answer.body.error.message.length).toBeGreaterThan(10);
    expect(await snapshotFamily(shards, family)).toEqual(before);
  });

  it('a query body without a query string is 400', async () => {
    const answer = await api(gateway, 'POST', '/api/query', { sql: 'SELECT 1' });
    expect(answer.status).toBe(400);
    expect(answer.body.error.code).toMatch(/^(BAD_USER_INPUT|QUERY_PARSE_FAILED)$/);
  });

  it('an unknown family is 404 TABLE_NOT_FOUND, and so are the catalog tables (they are not families)', async () => {
    for (const table of [uniqueFamily('nowhere'), 'databalancer_placements', 'databalancer_idempotency']) {
      const answer = await query(gateway, `SELECT * FROM ${table}`);
      expect(answer.status, table).toBe(404);
      expect(answer.body.error.code).toBe('TABLE_NOT_FOUND');
    }
    const joined = await query(gateway, `SELECT * FROM ${family} JOIN ${uniqueFamily('nowhere')} USING (n)`);
    expect(joined.status).toBe(404);
    expect(joined.body.error.code).toBe('TABLE_NOT_FOUND');
  });

  it('the row cap answers 200 with truncated: true and exactly 5 rows', async () => {
    const answer = await query(gateway, `SELECT n FROM ${family} ORDER BY n`);
    expect(answer.status).toBe(200);
    expect(answer.body.truncated).toBe(true);
    expect(answer.body.results).toEqual([0, 1, 2, 3, 4].map((n) => ({ n })));
    const small = await query(gateway, `SELECT n FROM ${family} ORDER BY n DESC LIMIT 5`);
    expect(small.status).toBe(200);
    expect(small.body.truncated).toBeUndefined();
    expect(small.body.results).toHaveLength(5);
    const limited = await query(gateway, `SELECT n FROM ${family} ORDER BY n LIMIT 2 OFFSET 10`);
    expect(limited.body.results).toEqual([{ n: 10 }, { n: 11 }]);
  });

  it('a statement past the time limit is 504 QUERY_TIMEOUT, and the gateway answers right after', async () => {
    const started = Date.now();
    const answer = await query(gateway, `SELECT COUNT(*) AS c FROM ${family} a, ${family} b, ${family} c WHERE a.n + b.n + c.n >= 0`);
    expect(answer.status).toBe(504);
    expect(answer.body.error.code).toBe('QUERY_TIMEOUT');
    expect(Date.now() - started).toBeLessThan(5_000);
    const after = await query(gateway, `SELECT COUNT(*) AS c FROM ${family}`);
    expect(after.status).toBe(200);
    expect(after.body.results).toEqual([{ c: 3000 }]);
  });

  it('WITH, UNION, subqueries and joins of one family run', async () => {
    const answer = await query(
      gateway,
      `WITH small AS (SELECT n FROM ${family} WHERE n < 3) SELECT s.n, f.label FROM small s JOIN ${family} f ON f.n = s.n WHERE s.n IN (SELECT n FROM ${family} WHERE n > 0) UNION ALL SELECT -1, 'x' ORDER BY n`,
    );
    expect(answer.status).toBe(200);
    expect(answer.body.results).toEqual([
      { n: -1, label: 'x' },
      { n: 1, label: 'row 1' },
      { n: 2, label: 'row 2' },
    ]);
  });

  it('the reader connection cannot write, even when handed a write directly', async () => {
    const reader = gateway.app.manager.pool(home).reader;
    const [[state]] = (await reader.raw('SELECT @@session.tx_read_only AS ro')) as unknown as [[{ ro: number }]];
    expect(Number(state?.ro)).toBe(1);
    await expect(reader.raw(`INSERT INTO \`${family}\` (n) VALUES (99999)`)).rejects.toMatchObject({ code: 'ER_CANT_EXECUTE_IN_READ_ONLY_TRANSACTION' });
    await expect(reader.raw(`UPDATE \`${family}\` SET n = 0`)).rejects.toMatchObject({ code: 'ER_CANT_EXECUTE_IN_READ_ONLY_TRANSACTION' });
    await expect(reader.raw(`DELETE FROM raw_logs WHERE family = '${family}'`)).rejects.toMatchObject({ code: 'ER_CANT_EXECUTE_IN_READ_ONLY_TRANSACTION' });
    const rows = await onShard<{ c: number }>(specNamed(shards, home), `SELECT COUNT(*) AS c FROM \`${family}\` WHERE n = 99999 OR n = 0`);
    expect(rows[0]?.c).toBe(1);
    expect(await tableExists(specNamed(shards, home), family)).toBe(true);
  });
});
