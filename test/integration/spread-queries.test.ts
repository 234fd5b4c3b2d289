/**
 * Queries over a spread family (docs/big-families.md) answer exactly what one
 * server holding all its rows would: the same rows are put into a spread
 * family (parts on all three shards, one of them empty, the others uneven)
 * and into a plain family on one shard, and every query runs on both
 * through the gateway, compared row for row. Aggregates, ORDER BY ... LIMIT
 * and filters push down (a gateway that may move only a few rows answers
 * them); a part that is down makes the query 503 naming it.
 */
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { startCluster, stopServer, type Cluster } from '../../scripts/lib/mariadb-cluster.js';
import { api, ingest, onShard, query, specNamed, startGateway, uniqueFamily, type TestGateway } from './helpers/gateway.js';
import { PART_ID_SPAN } from '../../src/shards/shard-manager.js';

const shards = inject('shards');
/** A database of its own: raw_logs queries here gather only this file's families. */
const DATABASE = 'databalancer_spread_queries';
const onDb = <T = Record<string, unknown>>(spec: (typeof shards)[number], sql: string, values: unknown[] = []): Promise<T[]> => onShard<T>(spec, sql, values, DATABASE);
const names = shards.map((s) => s.name);
const schema = { g: 'string', x: 'int', v: 'float', s: 'string', ts: 'timestamp' };
let gateway: TestGateway;
/** --federation_max_rows=12: only push-downs fit. */
let tight: TestGateway;
const spread = uniqueFamily('spq_spread');
const plain = uniqueFamily('spq_plain');
const other = uniqueFamily('spq_other');

type Row = { g: string | null; x: number | null; v: number | null; s: string | null; ts: string };

/** Row k of a part: uneven groups, NULLs, repeated values across parts. */
function rowOf(part: number, k: number): Row {
  const groups = ['a', 'b', 'c', 'd', null];
  return {
    g: groups[(k * (part + 1)) % 5] ?? null,
    x: k % 7 === 3 ? null : (k * 5 + part) % 23,
    v: k % 6 === 0 ? null : Math.round(((k + 0.25) * (part + 1.5)) * 1000) / 1000,
    s: k % 4 === 1 ? null : `s${(k + part) % 6}`,
    ts: `2026-0${1 + ((k + part) % 3)}-1${k % 10} 0${k % 10}:00:00.000000`,
  };
}

/** Rows per part, by part index: the third part stays empty. */
const PART_ROWS = [40, 9, 0];

const sqlValue = (v: unknown): string => (v === null ? 'NULL' : typeof v === 'number' ? String(v) : `'${String(v).replace(/'/g, "''")}'`);

async function insertRows(spec: (typeof shards)[number], table: string, rows: Array<{ id: number; row: Row }>): Promise<void> {
  if (rows.length === 0) return;
  const tuples = rows.map(({ id, row }) => {
    const raw = JSON.stringify(row);
    return `(${[id, row.g, row.x, row.v, row.s, row.ts, raw].map(sqlValue).join(', ')})`;
  });
  await onDb(spec, `INSERT INTO \`${table}\` (id, g, x, v, s, ts, _raw) VALUES ${tuples.join(', ')}`);
}

beforeAll(async () => {
  gateway = await startGateway(shards, [], { database: DATABASE });
  tight = await startGateway(shards, ['--federation_max_rows=12'], { database: DATABASE });
  const first = rowOf(0, 0);
  // Both families are placed with the full schema; the spread one then gets its parts.
  const placedSpread = await ingest(gateway, spread, schema, [first]);
  expect(placedSpread.status).toBe(200);
  const placedPlain = await ingest(gateway, plain, schema, [first]);
  expect(placedPlain.status).toBe(200);
  const home = placedSpread.body.shard as string;
  const parts = await gateway.app.manager.spreadFamily(spread, [home, ...names.filter((n) => n !== home)]);
  expect(parts.map((p) => p.shard).sort()).toEqual([...names].sort());
  // The first event has the id of part 0's first row in both.
  const firstId = Number((await query(gateway, `SELECT id FROM ${spread}`)).body.results[0].id);
  await onDb(specNamed(shards, placedPlain.body.shard), `UPDATE \`${plain}\` SET id = ${firstId}`);
  const plainSpec = specNamed(shards, placedPlain.body.shard);
  for (const part of parts) {
    const count = PART_ROWS[part.index] ?? 0;
    const rows = Array.from({ length: count }, (_, k) => ({ id: part.index * PART_ID_SPAN + firstId + 1 + k, row: rowOf(part.index, k + 1) }));
    await insertRows(specNamed(shards, part.shard), spread, rows);
    await insertRows(plainSpec, plain, rows);
  }
  await ingest(gateway, other, { g: 'string', label: 'string' }, [
    { g: 'a', label: 'alpha' },
    { g: 'b', label: 'beta' },
    { g: 'c', label: 'gamma' },
    { g: 'c', label: 'gamma again' },
  ]);
}, 60_000);
afterAll(async () => {
  await tight?.close();
  await gateway?.close();
});

/** Doubles equal within a relative tolerance (sums in another order); everything else exactly. */
function expectSame(actual: unknown, expected: unknown, where: string): void {
  if (typeof actual === 'number' && typeof expected === 'number' && !(Number.isInteger(actual) && Number.isInteger(expected))) {
    expect(Math.abs(actual - expected), where).toBeLessThanOrEqual(1e-9 * Math.max(1, Math.abs(expected)));
    return;
  }
  if (Array.isArray(actual) && Array.isArray(expected)) {
    expect(actual.length, where).toBe(expected.length);
    actual.forEach((a, i) => expectSame(a, expected[i], `${where}[${i}]`));
    return;
  }
  if (typeof actual === 'object' && actual !== null && typeof expected === 'object' && expected !== null) {
    expect(Object.keys(actual), where).toEqual(Object.keys(expected));
    for (const key of Object.keys(expected)) expectSame((actual as Record<string, unknown>)[key], (expected as Record<string, unknown>)[key], `${where}.${key}`);
    return;
  }
  expect(actual, where).toEqual(expected);
}

/** `{T}` is the family, `{O}` the other family. */
const QUERIES: string[] = [
  'SELECT * FROM {T} ORDER BY id',
  // `*` leaves the invisible raw copy out (and the copy between shards too); named, it is read.
  'SELECT *, _raw FROM {T} WHERE x > 3 ORDER BY id',
  'SELECT id, g, x FROM {T} WHERE x > 10 ORDER BY id',
  "SELECT id, x * 2 + 1 AS y, UPPER(g), CONCAT(s, '!') FROM {T} WHERE s IS NULL OR g = 'b' ORDER BY id",
  'SELECT COUNT(*) FROM {T}',
  'SELECT COUNT(*), COUNT(x), COUNT(s), SUM(x), MIN(x), MAX(x), AVG(x) FROM {T}',
  'SELECT g, COUNT(*) AS n, SUM(x) AS total, AVG(x) AS mean FROM {T} GROUP BY g ORDER BY g',
  'SELECT g, AVG(v), SUM(v), MIN(v), MAX(v) FROM {T} GROUP BY g ORDER BY g',
  'SELECT g, COUNT(*) * 2 AS twice, SUM(x) / COUNT(*) AS ratio FROM {T} GROUP BY g ORDER BY twice DESC, g',
  'SELECT g, COUNT(*) FROM {T} GROUP BY g HAVING COUNT(*) > 5 ORDER BY g',
  'SELECT g, COUNT(*) AS n FROM {T} GROUP BY g HAVING n >= 3 ORDER BY n DESC, g LIMIT 2',
  'SELECT g, COUNT(*) FROM {T} GROUP BY 1 ORDER BY 1 LIMIT 2 OFFSET 1',
  'SELECT x % 3 AS bucket, COUNT(*), AVG(v) FROM {T} GROUP BY x % 3 ORDER BY bucket',
  'SELECT DATE(ts) AS day, COUNT(*), MAX(ts), MIN(s) FROM {T} GROUP BY DATE(ts) ORDER BY day',
  'SELECT COUNT(DISTINCT g) FROM {T}',
  'SELECT COUNT(DISTINCT x), MIN(x), MAX(x) FROM {T}',
  'SELECT g, COUNT(DISTINCT x) AS dx, MIN(x), MAX(x) FROM {T} GROUP BY g ORDER BY g',
  'SELECT g, COUNT(DISTINCT x), COUNT(*) FROM {T} GROUP BY g ORDER BY g',
  'SELECT DISTINCT g FROM {T} ORDER BY g',
  'SELECT DISTINCT g, s FROM {T} ORDER BY g, s',
  'SELECT DISTINCT UPPER(g) AS u, x > 10 FROM {T} WHERE v IS NOT NULL ORDER BY u DESC, 2 LIMIT 4',
  'SELECT id, x FROM {T} ORDER BY x DESC, id LIMIT 5',
  'SELECT id, x FROM {T} ORDER BY x, id LIMIT 4 OFFSET 3',
  "SELECT id, v FROM {T} WHERE g = 'b' ORDER BY v DESC, id LIMIT 3",
  'SELECT x * 2 AS y, id FROM {T} ORDER BY y DESC, 2 LIMIT 6',
  'SELECT id, s FROM {T} ORDER BY s, id LIMIT 3, 5',
  'SELECT SUM(x), AVG(x), MIN(s), MAX(s), COUNT(x) FROM {T} WHERE x IS NULL',
  'SELECT COUNT(*), SUM(x), AVG(v), MAX(ts) FROM {T} WHERE x > 100000',
  'SELECT g, COUNT(*) FROM {T} WHERE x > 100000 GROUP BY g',
  'SELECT COUNT(*) FROM {T} t WHERE t.x BETWEEN 3 AND 20',
  'SELECT t.g, COUNT(*) AS c FROM {T} AS t GROUP BY t.g ORDER BY c DESC, t.g',
  'SELECT t.g, o.label, COUNT(*) AS n FROM {T} t JOIN {O} o ON o.g = t.g GROUP BY t.g, o.label ORDER BY t.g, o.label',
  'SELECT id, x FROM {T} WHERE x > (SELECT AVG(x) FROM {T}) ORDER BY id',
  'SELECT g, m FROM (SELECT g, MAX(x) AS m FROM {T} GROUP BY g) d ORDER BY m DESC, g',
  'SELECT g FROM {T} WHERE x < 5 UNION SELECT g FROM {T} WHERE x > 20 ORDER BY g',
  'SELECT id, ROW_NUMBER() OVER (PARTITION BY g ORDER BY id) AS rn FROM {T} ORDER BY id',
  'SELECT g, GROUP_CONCAT(x ORDER BY x) AS xs FROM {T} WHERE x > 2 GROUP BY g ORDER BY g',
  'SELECT COUNT(*) AS `c``x`, SUM(x) + MAX(x) - MIN(x), count(*) FROM {T} WHERE g <> \'a\'',
  "SELECT id, log FROM raw_logs WHERE family = '{T}' ORDER BY id",
  "SELECT family, COUNT(*) FROM raw_logs WHERE family = '{T}' GROUP BY family",
  'SELECT g, COUNT(*), SUM(v) FROM {T} GROUP BY g WITH ROLLUP',
];

describe('a family spread over three shards answers as one server would', () => {
  it.each(QUERIES.map((sql) => [sql]))('%s', async (template) => {
    const on = (family: string): string => template.replaceAll('{T}', family).replaceAll('{O}', other);
    const [got, want] = await Promise.all([query(gateway, on(spread)), query(gateway, on(plain))]);
    expect({ status: got.status, error: got.body.error }).toEqual({ status: 200, error: undefined });
    expect(want.status).toBe(200);
    const unname = (rows: unknown): unknown => JSON.parse(JSON.stringify(rows).replaceAll(spread, '{T}').replaceAll(plain, '{T}'));
    expectSame(unname(got.body.results), unname(want.body.results), template);
    if (want.body.columns !== undefined) expect(got.body.columns).toEqual(want.body.columns);
  });

  it('ties in ORDER BY ... LIMIT: the sort keys are the single server’s', async () => {
    const sql = (family: string): string => `SELECT id, g FROM ${family} ORDER BY g DESC LIMIT 7`;
    const [got, want] = await Promise.all([query(gateway, sql(spread)), query(gateway, sql(plain))]);
    expect(got.status).toBe(200);
    expect(got.body.results.map((r: { g: string }) => r.g)).toEqual(want.body.results.map((r: { g: string }) => r.g));
  });

  it('pushes aggregates, top rows and filters down: only partial rows move (a 12-row budget suffices)', async () => {
    for (const template of [
      'SELECT g, COUNT(*) AS n, AVG(x), MIN(v) FROM {T} GROUP BY g ORDER BY g',
      'SELECT COUNT(*), SUM(v) FROM {T}',
      'SELECT id, x FROM {T} ORDER BY x DESC, id LIMIT 4',
      'SELECT id, x FROM {T} WHERE x = 7 ORDER BY id',
      'SELECT DISTINCT g FROM {T} ORDER BY g',
    ]) {
      const [got, want] = await Promise.all([query(tight, template.replaceAll('{T}', spread)), query(gateway, template.replaceAll('{T}', plain))]);
      expect({ template, status: got.status, error: got.body.error }).toEqual({ template, status: 200, error: undefined });
      expectSame(got.body.results, want.body.results, template);
    }
    // What must see every row still answers exactly, or says it is too large.
    const all = await query(tight, `SELECT * FROM ${spread} ORDER BY id`);
    expect({ status: all.status, code: all.body.error?.code }).toEqual({ status: 400, code: 'QUERY_TOO_LARGE' });
  });

  it('GraphQL rows filters, orders and pages across parts', async () => {
    const family = gateway.app.services.family;
    for (const request of [
      { where: { field: 'g', eq: 'b' }, orderBy: [{ field: 'x', direction: 'DESC' }], limit: 4 },
      { where: { or: [{ field: 'x', gt: 15 }, { field: 's', isNull: true }] }, orderBy: [{ field: 'v' }], limit: 5, offset: 3 },
      { limit: 10, offset: 40 },
      { orderBy: [{ field: 'ts', direction: 'DESC' }], limit: 3 },
    ]) {
      const [got, want] = await Promise.all([family.rows({ family: spread, ...request }), family.rows({ family: plain, ...request })]);
      expect(got.rows, JSON.stringify(request)).toEqual(want.rows);
      expect(got.hasMore).toBe(want.hasMore);
    }
  });
});

describe('a part without a column (it was down when the field was added)', () => {
  it('contributes NULL for it, in every query shape', async () => {
    const lacking = uniqueFamily('spq_lack');
    const full = uniqueFamily('spq_full');
    const base = { g: 'string', x: 'int' };
    const placed = await ingest(gateway, lacking, { ...base, y: 'int' }, [{ g: 'a', x: 1, y: 10 }]);
    const placedFull = await ingest(gateway, full, { ...base, y: 'int' }, [{ g: 'a', x: 1, y: 10 }]);
    const home = placed.body.shard as string;
    const parts = await gateway.app.manager.spreadFamily(lacking, [home, ...names.filter((n) => n !== home)]);
    const firstId = Number((await query(gateway, `SELECT id FROM ${lacking}`)).body.results[0].id);
    const fullSpec = specNamed(shards, placedFull.body.shard);
    await onDb(fullSpec, `UPDATE \`${full}\` SET id = ${firstId}`);
    for (const part of parts.filter((p) => p.index > 0)) {
      const spec = specNamed(shards, part.shard);
      const id = part.index * PART_ID_SPAN + 1;
      if (part.index === 2) await onDb(spec, `ALTER TABLE \`${lacking}\` DROP COLUMN y`);
      const y = part.index === 2 ? [] : [20 + part.index];
      const cols = part.index === 2 ? 'id, g, x' : 'id, g, x, y';
      await onDb(spec, `INSERT INTO \`${lacking}\` (${cols}) VALUES (${[id, "'b'", 2 + part.index, ...y].join(', ')}), (${[id + 1, "'a'", 5, ...y].join(', ')})`);
      await onDb(fullSpec, `INSERT INTO \`${full}\` (id, g, x, y) VALUES (${id}, 'b', ${2 + part.index}, ${y[0] ?? 'NULL'}), (${id + 1}, 'a', 5, ${y[0] ?? 'NULL'})`);
    }
    for (const template of [
      'SELECT * FROM {T} ORDER BY id',
      'SELECT COUNT(y), SUM(y), AVG(y), MIN(y) FROM {T}',
      'SELECT g, MAX(y), COUNT(*) FROM {T} GROUP BY g ORDER BY g',
      'SELECT id, y FROM {T} ORDER BY y DESC, id LIMIT 3',
      'SELECT id FROM {T} WHERE y IS NULL ORDER BY id',
      'SELECT g, COUNT(DISTINCT y) FROM {T} GROUP BY g ORDER BY g',
    ]) {
      const [got, want] = await Promise.all([query(gateway, template.replaceAll('{T}', lacking)), query(gateway, template.replaceAll('{T}', full))]);
      expect({ template, status: got.status, error: got.body.error }).toEqual({ template, status: 200, error: undefined });
      expectSame(got.body.results, want.body.results, template);
    }
  });
});

describe('a part that is down', () => {
  let cluster: Cluster;
  let own: TestGateway;
  beforeAll(async () => {
    cluster = await startCluster({ count: 3, names: ['spo_a', 'spo_b', 'spo_c'] });
    own = await startGateway(cluster.servers);
  }, 60_000);
  afterAll(async () => {
    await own?.close();
    await cluster?.stop();
  });

  it('makes queries over the family answer 503 naming it, never a partial answer', async () => {
    const family = uniqueFamily('spq_down');
    const placed = await ingest(own, family, { n: 'int' }, [{ n: 1 }, { n: 2 }]);
    expect(placed.status).toBe(200);
    const home = placed.body.shard as string;
    const answer = await api(own, 'PUT', `/api/families/${family}/placement`, { shards: ['spo_a', 'spo_b', 'spo_c'].sort((a, b) => Number(b === home) - Number(a === home)) });
    expect(answer.status).toBe(200);
    const downName = ['spo_a', 'spo_b', 'spo_c'].find((n) => n !== home) as string;
    expect((await query(own, `SELECT COUNT(*) AS c FROM ${family}`)).body.results).toEqual([{ c: 2 }]);
    await stopServer(specNamed(cluster.servers, downName));
    for (const sql of [`SELECT COUNT(*) AS c FROM ${family}`, `SELECT * FROM ${family} ORDER BY n LIMIT 1`, `SELECT * FROM ${family}`, `SELECT n FROM ${family} WHERE n > 0 UNION SELECT 3`]) {
      const read = await query(own, sql);
      expect({ sql, status: read.status, code: read.body.error?.code, shard: read.body.error?.shard }).toEqual({ sql, status: 503, code: 'SHARD_UNAVAILABLE', shard: downName });
    }
  }, 60_000);
});
