/**
 * Cross-shard queries return exactly what one server holding all the tables
 * would return. The expected answer comes from copying the same rows into one
 * scratch database on one shard and running the same SQL there directly.
 */
import { randomBytes } from 'node:crypto';
import mysql from 'mysql2/promise';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { connectShard, ingest, onShard, query, specNamed, startGateway, uniqueFamily, TEST_DATABASE, type TestGateway } from './helpers/gateway.js';

const shards = inject('shards');
let gateway: TestGateway;
/** --federation_max_rows=3 */
let tight: TestGateway;
const scratchDb = `scratch_${randomBytes(5).toString('hex')}`;
const scratchShard = specNamed(shards, 'shard_b');
let scratch: mysql.Connection;

const ODD = 'odd`col?; x';
const q = (name: string) => `\`${name.replace(/`/g, '``')}\``;

interface Role {
  prefix: string;
  schema: Record<string, string>;
  logs: Array<Record<string, unknown>>;
}
const ROLES: Role[] = [
  {
    prefix: 'fa',
    schema: { k: 'int', name: 'string' },
    logs: [1, 2, 3, 4, 5, 6].map((k) => ({ k, name: `name ${k}` })).concat([{ k: 3, name: 'name 3 again' }]),
  },
  {
    prefix: 'fb',
    schema: { k: 'int', score: 'float', [ODD]: 'string' },
    logs: [
      { k: 2, score: 0.5, [ODD]: 'two' },
      { k: 3, score: 1.5, [ODD]: 'three' },
      { k: 3, score: 2.5, [ODD]: null },
      { k: 5, score: 10, [ODD]: 'five' },
      { k: 9, score: -1, [ODD]: 'nine' },
    ],
  },
  {
    prefix: 'fc',
    schema: { k: 'int', tag: 'string' },
    logs: [
      { k: 5, tag: 'c5' },
      { k: 6, tag: 'c6' },
      { k: 7, tag: 'c7' },
      { k: 7, tag: null },
    ],
  },
];
/** The three families, on three different shards: [a, b, c]. */
const families: string[] = [];
const homes: string[] = [];

/** Creates one family per role, retrying names until each role sits on a shard of its own. */
async function placeRoles(): Promise<void> {
  for (const role of ROLES) {
    for (let attempt = 0; attempt < 40; attempt++) {
      const family = uniqueFamily(role.prefix);
      const answer = await ingest(gateway, family, role.schema, role.logs);
      expect(answer.status).toBe(200);
      if (!homes.includes(answer.body.shard)) {
        families.push(family);
        homes.push(answer.body.shard);
        break;
      }
    }
  }
  expect(new Set(homes).size).toBe(3);
}

/** Copies each family's table (same DDL, same rows) and its raw_logs rows into the scratch database. */
async function buildScratch(): Promise<void> {
  scratch = await connectShard(scratchShard, null);
  await scratch.query(`CREATE DATABASE ${scratchDb} CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci`);
  await scratch.query(`USE ${scratchDb}`);
  await scratch.query("SET SESSION time_zone = '+00:00'");
  await scratch.query('CREATE TABLE raw_logs (id BIGINT AUTO_INCREMENT PRIMARY KEY, family VARCHAR(64) NOT NULL, log JSON NOT NULL)');
  for (const [i, family] of families.entries()) {
    const home = specNamed(shards, homes[i] as string);
    const [create] = await onShard<Record<string, string>>(home, `SHOW CREATE TABLE ${q(family)}`);
    await scratch.query(String(create?.['Create Table']));
    const columns = (
      await onShard<{ name: string }>(
        home,
        'SELECT COLUMN_NAME AS name FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ? ORDER BY ORDINAL_POSITION',
        [TEST_DATABASE, family],
        null,
      )
    ).map((c) => c.name);
    const rows = await onShard<Record<string, unknown>>(home, `SELECT ${columns.map(q).join(', ')} FROM ${q(family)}`);
    const values = rows.map((row) => `(${columns.map((c) => mysql.escape(row[c] as string | number | null)).join(', ')})`).join(', ');
    await scratch.query(`INSERT INTO ${q(family)} (${columns.map(q).join(', ')}) VALUES ${values}`);
  }
  for (const shard of shards) {
    const raw = await onShard<{ family: string; log: unknown }>(shard, 'SELECT family, log FROM raw_logs WHERE family IN (?) ORDER BY id', [families]);
    for (const row of raw) {
      await scratch.query('INSERT INTO raw_logs (family, log) VALUES (?, ?)', [row.family, typeof row.log === 'string' ? row.log : JSON.stringify(row.log)]);
    }
  }
}

beforeAll(async () => {
  [gateway, tight] = await Promise.all([startGateway(shards), startGateway(shards, ['--federation_max_rows=3'])]);
  await placeRoles();
  await buildScratch();
});
afterAll(async () => {
  await scratch?.query(`DROP DATABASE IF EXISTS ${scratchDb}`).catch(() => undefined);
  await scratch?.end();
  await Promise.all([gateway.close(), tight.close()]);
});

/** Runs `sql` on the scratch database directly: what one server holding every table answers. */
async function onOneServer(sql: string): Promise<unknown[]> {
  const [rows] = await scratch.query(sql);
  return JSON.parse(JSON.stringify(rows)) as unknown[];
}

const SQL: Array<[string, () => string]> = [
  ['a JOIN of two families on different shards', () => {
    const [a, b] = families;
    return `SELECT a.k, a.name, b.score, b.${q(ODD)} FROM ${a} a JOIN ${b} b ON a.k = b.k ORDER BY a.k, b.score, a.name`;
  }],
  ['a LEFT JOIN with aggregates over three shards', () => {
    const [a, b, c] = families;
    return `SELECT a.name, COUNT(b.k) AS matches, SUM(b.score) AS total, MAX(c.tag) AS tag FROM ${a} a LEFT JOIN ${b} b ON b.k = a.k LEFT JOIN ${c} c ON c.k = a.k GROUP BY a.name ORDER BY a.name`;
  }],
  ['a UNION across three shards', () => {
    const [a, b, c] = families;
    return `SELECT k FROM ${a} UNION SELECT k FROM ${b} UNION SELECT k FROM ${c} ORDER BY k`;
  }],
  ['a UNION ALL keeps duplicates', () => {
    const [a, b] = families;
    return `SELECT k, 'a' AS src FROM ${a} UNION ALL SELECT k, 'b' FROM ${b} ORDER BY k, src`;
  }],
  ['subqueries (IN, NOT IN, scalar) across shards', () => {
    const [a, b, c] = families;
    return `SELECT name, (SELECT COUNT(*) FROM ${c} WHERE ${c}.k >= a.k) AS later FROM ${a} a WHERE k IN (SELECT k FROM ${b} WHERE score > 1) AND k NOT IN (SELECT k FROM ${c} WHERE tag IS NOT NULL) ORDER BY name`;
  }],
  ['a derived table and a CTE across shards', () => {
    const [a, b] = families;
    return `WITH bb AS (SELECT k, SUM(score) AS s FROM ${b} GROUP BY k) SELECT x.k, x.n, bb.s FROM (SELECT k, COUNT(*) AS n FROM ${a} GROUP BY k) x JOIN bb ON bb.k = x.k ORDER BY x.k`;
  }],
  ['a join through USING (the copy keeps every column)', () => {
    const [a, b] = families;
    return `SELECT k, a.name, b.score FROM ${a} a JOIN ${b} b USING (k) ORDER BY k, b.score, a.name`;
  }],
  ['b.* of the remote family (every column copied)', () => {
    const [a, b] = families;
    return `SELECT b.* FROM ${a} a JOIN ${b} b ON a.k = b.k ORDER BY b.id`;
  }],
  ['only some columns of the remote family, in WHERE, ORDER BY and a window', () => {
    const [a, b] = families;
    return `SELECT a.k, ROW_NUMBER() OVER (PARTITION BY a.k ORDER BY b.score, b.id) AS r FROM ${a} a JOIN ${b} b ON a.k = b.k WHERE b.score IS NOT NULL ORDER BY a.k, r`;
  }],
  ['an unqualified column that only the remote family has', () => {
    const [a, b] = families;
    return `SELECT a.k, score FROM ${a} a JOIN ${b} b ON a.k = b.k ORDER BY a.k, score`;
  }],
  ['raw_logs grouped by family (only these families)', () =>
    `SELECT family, COUNT(*) AS n FROM raw_logs WHERE family IN (${families.map((f) => `'${f}'`).join(', ')}) GROUP BY family ORDER BY family`],
  ['raw_logs joined with a family', () => {
    const [a, b] = families;
    return `SELECT a.k, COUNT(*) AS n FROM ${a} a JOIN raw_logs r ON r.family = '${b}' AND JSON_EXTRACT(r.log, '$.k') = a.k GROUP BY a.k ORDER BY a.k`;
  }],
];

describe('cross-shard queries', () => {
  it.each(SQL)('%s returns what one server holding every table returns', async (_label, sql) => {
    const text = sql();
    const expected = await onOneServer(text);
    expect(expected.length).toBeGreaterThan(0);
    const answer = await query(gateway, text);
    expect(answer.status, JSON.stringify(answer.body)).toBe(200);
    expect(answer.body.results).toEqual(expected);
  });

  it('SELECT family, COUNT(*) FROM raw_logs GROUP BY family covers every shard', async () => {
    const answer = await query(gateway, 'SELECT family, COUNT(*) FROM raw_logs GROUP BY family');
    expect(answer.status).toBe(200);
    const counts = new Map((answer.body.results as Array<Record<string, unknown>>).map((r) => [r['family'], r['COUNT(*)']]));
    const expected = (await onOneServer('SELECT family, COUNT(*) AS n FROM raw_logs GROUP BY family')) as Array<{ family: string; n: number }>;
    for (const row of expected) expect(counts.get(row.family), row.family).toBe(row.n);
    // One row per family: no family is counted twice (once per shard).
    expect(counts.size).toBe(answer.body.results.length);
  });

  it('scatter-gather over raw_logs grouped by family keeps the single-server order, HAVING and LIMIT', async () => {
    const inList = families.map((f) => `'${f}'`).join(', ');
    for (const text of [
      `SELECT family, COUNT(*) AS n, MIN(id) > 0 AS positive FROM raw_logs WHERE family IN (${inList}) GROUP BY family`,
      `SELECT r.family AS f, COUNT(*) AS n FROM raw_logs r WHERE family IN (${inList}) GROUP BY r.family HAVING COUNT(*) > 1 ORDER BY f DESC`,
      `SELECT family, COUNT(*) AS n FROM raw_logs WHERE family IN (${inList}) GROUP BY family ORDER BY family DESC LIMIT 2`,
    ]) {
      const expected = await onOneServer(text);
      expect(expected.length, text).toBeGreaterThan(0);
      const answer = await query(gateway, text);
      expect(answer.status, JSON.stringify(answer.body)).toBe(200);
      expect(answer.body.results, text).toEqual(expected);
    }
  });

  it('a query on one family still runs on its shard unchanged', async () => {
    const [a] = families;
    const answer = await query(gateway, `SELECT k, name FROM ${a} WHERE k > 4 ORDER BY k`);
    expect(answer.body.results).toEqual(await onOneServer(`SELECT k, name FROM ${a} WHERE k > 4 ORDER BY k`));
  });

  it('moving more rows than --federation_max_rows is 400 QUERY_TOO_LARGE; single-shard queries still run', async () => {
    const [a, b] = families;
    const join = await query(tight, `SELECT COUNT(*) AS n FROM ${a} a JOIN ${b} b ON a.k = b.k`);
    expect(join.status).toBe(400);
    expect(join.body.error.code).toBe('QUERY_TOO_LARGE');
    const raw = await query(tight, 'SELECT COUNT(*) FROM raw_logs');
    expect(raw.status).toBe(400);
    expect(raw.body.error.code).toBe('QUERY_TOO_LARGE');
    // Grouped by family, raw_logs is answered by scatter-gather: no rows move, so no cap applies.
    const grouped = await query(tight, 'SELECT family, COUNT(*) FROM raw_logs GROUP BY family');
    expect(grouped.status).toBe(200);
    const single = await query(tight, `SELECT COUNT(*) AS n FROM ${a}`);
    expect(single.status).toBe(200);
    expect(single.body.results).toEqual([{ n: 7 }]);
  });

  it('federation leaves nothing behind: the shards hold only their own tables afterwards', async () => {
    for (const [i, family] of families.entries()) {
      const holders = [];
      for (const shard of shards) {
        const rows = await onShard(shard, 'SELECT 1 FROM information_schema.TABLES WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ?', [TEST_DATABASE, family], null);
        if (rows.length > 0) holders.push(shard.name);
      }
      expect(holders).toEqual([homes[i]]);
    }
  });
});
