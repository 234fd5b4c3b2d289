/**
 * `family(name).rows(...)` through the generated SDK against real shards:
 * every operator, and/or/not, ordering and paging, refusals, and injection
 * attempts that must stay plain values.
 */
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { createClient, type DatabalancerClient, type RowFilter } from '../../sdk/index.js';
import { onShard, startGateway, uniqueFamily, type TestGateway } from './helpers/gateway.js';
import { failure } from './helpers/sdk-failure.js';

const shards = inject('shards');
let gateway: TestGateway;
let client: DatabalancerClient;
const family = uniqueFamily('gql_rows');

const schema = { name: 'string', weight: 'int', score: 'float', good: 'bool', seen: 'timestamp', born: 'date', meta: 'json' };
const logs = [
  { name: 'spot', weight: 100, score: 1.5, good: true, seen: '2024-01-01T00:00:00Z', born: '2020-01-01', meta: { a: 1 } },
  { name: 'max', weight: 3, score: 2.5, good: false, seen: '2024-01-02T00:00:00Z', born: '2021-06-15', meta: null },
  { name: 'sprinkle', weight: 50, score: null, good: true, seen: '2024-01-03T00:00:00Z', born: null, meta: [1, 2] },
  { name: "o'reilly", weight: null, score: 0.5, good: null, seen: null, born: '2019-12-31' },
  { name: 'Spotty', weight: 7, score: 9.75, good: false, seen: '2024-02-01T12:00:00Z', born: '2022-02-02', meta: { b: 'x' } },
];

beforeAll(async () => {
  gateway = await startGateway(shards);
  client = createClient({ url: `${gateway.url}/graphql` });
  await client.ingestLogs({ family, schema, logs });
});
afterAll(async () => {
  await gateway?.close();
});

async function names(where?: RowFilter, extra: Record<string, unknown> = {}): Promise<string[]> {
  const page = await client.family(family).rows({ where: where ?? null, ...extra });
  return page.rows.map((row) => row['name'] as string);
}

describe('rows filter operators', () => {
  it('returns every row, typed, in id order without a filter', async () => {
    const page = await client.family(family).rows();
    expect(page.rows).toHaveLength(5);
    expect(page.rows[0]).toEqual({
      id: expect.any(Number),
      name: 'spot',
      weight: 100,
      score: 1.5,
      good: true,
      seen: '2024-01-01T00:00:00.000000Z',
      born: '2020-01-01',
      meta: { a: 1 },
    });
    const ids = page.rows.map((row) => row['id'] as number);
    expect(ids).toEqual([...ids].sort((a, b) => a - b));
  });

  it('eq, ne, lt, lte, gt, gte', async () => {
    expect(await names({ field: 'weight', eq: 50 })).toEqual(['sprinkle']);
    expect(await names({ field: 'weight', ne: 50 })).toEqual(['spot', 'max', 'Spotty']);
    expect(await names({ field: 'weight', lt: 50 })).toEqual(['max', 'Spotty']);
    expect(await names({ field: 'weight', lte: 50 })).toEqual(['max', 'sprinkle', 'Spotty']);
    expect(await names({ field: 'score', gt: 1.5 })).toEqual(['max', 'Spotty']);
    expect(await names({ field: 'score', gte: 1.5 })).toEqual(['spot', 'max', 'Spotty']);
    expect(await names({ field: 'seen', gte: '2024-01-02T00:00:00Z', lt: 1706745600 })).toEqual(['max', 'sprinkle']);
    expect(await names({ field: 'born', lt: '2020-06-01' })).toEqual(['spot', "o'reilly"]);
    expect(await names({ field: 'good', eq: true })).toEqual(['spot', 'sprinkle']);
    expect(await names({ field: 'weight', eq: '100' })).toEqual(['spot']);
  });

  it('in, like and isNull', async () => {
    expect(await names({ field: 'name', in: ['max', 'sprinkle', 'nobody'] })).toEqual(['max', 'sprinkle']);
    expect(await names({ field: 'weight', in: [] })).toEqual([]);
    // Text compares with the column's case-insensitive collation.
    expect(await names({ field: 'name', like: 'spot%' })).toEqual(['spot', 'Spotty']);
    expect(await names({ field: 'name', like: 'sp_t' })).toEqual(['spot']);
    expect(await names({ field: 'meta', isNull: true })).toEqual(['max', "o'reilly"]);
    expect(await names({ field: 'weight', isNull: false })).toEqual(['spot', 'max', 'sprinkle', 'Spotty']);
  });

  it('and, or, not', async () => {
    expect(await names({ and: [{ field: 'good', eq: false }, { field: 'weight', gt: 5 }] })).toEqual(['Spotty']);
    expect(await names({ or: [{ field: 'weight', eq: 3 }, { field: 'score', eq: 0.5 }] })).toEqual(['max', "o'reilly"]);
    expect(await names({ not: { field: 'name', like: 's%' } })).toEqual(['max', "o'reilly"]);
    expect(
      await names({
        or: [{ field: 'name', eq: 'max' }, { and: [{ field: 'weight', gte: 10 }, { not: { field: 'good', eq: true } }] }],
      }),
    ).toEqual(['max']);
    expect(await names({ or: [] })).toEqual([]);
    expect(await names({ and: [] })).toHaveLength(5);
  });
});

describe('rows ordering and paging', () => {
  it('orders by the given keys, then id', async () => {
    expect(await names(undefined, { orderBy: [{ field: 'weight', direction: 'DESC' }] })).toEqual(['spot', 'sprinkle', 'Spotty', 'max', "o'reilly"]);
    expect(await names({ field: 'weight', isNull: false }, { orderBy: [{ field: 'good' }, { field: 'score', direction: 'DESC' }] })).toEqual([
      'Spotty',
      'max',
      'spot',
      'sprinkle',
    ]);
  });

  it('pages with limit and offset and says when more rows follow', async () => {
    const first = await client.family(family).rows({ limit: 2 });
    expect(first).toMatchObject({ limit: 2, offset: 0, hasMore: true });
    expect(first.rows.map((r) => r['name'])).toEqual(['spot', 'max']);
    const last = await client.family(family).rows({ limit: 2, offset: 4 });
    expect(last).toMatchObject({ limit: 2, offset: 4, hasMore: false });
    expect(last.rows.map((r) => r['name'])).toEqual(['Spotty']);
    expect((await client.family(family).rows({ limit: 0 })).rows).toEqual([]);
  });
});

describe('rows refusals', () => {
  it('an unknown field is BAD_USER_INPUT naming the columns', async () => {
    const error = await failure(client.family(family).rows({ where: { field: 'colour', eq: 'red' } }));
    expect(error.code).toBe('BAD_USER_INPUT');
    expect(error.extensions).toMatchObject({ family, field: 'colour' });
    expect(error.extensions['columns']).toEqual(['id', 'name', 'weight', 'score', 'good', 'seen', 'born', 'meta']);
    expect((await failure(client.family(family).rows({ orderBy: [{ field: 'colour' }] }))).code).toBe('BAD_USER_INPUT');
    // The internal ingestion time is not a column clients may name.
    expect((await failure(client.family(family).rows({ where: { field: '_ingested_at', isNull: true } }))).code).toBe('BAD_USER_INPUT');
  });

  it('a value that does not fit the column is INVALID_VALUE; a wrong operator is BAD_USER_INPUT', async () => {
    expect((await failure(client.family(family).rows({ where: { field: 'weight', gt: 'heavy' } }))).code).toBe('INVALID_VALUE');
    expect((await failure(client.family(family).rows({ where: { field: 'seen', lt: 'last week' } }))).code).toBe('INVALID_VALUE');
    expect((await failure(client.family(family).rows({ where: { field: 'weight', like: '1%' } }))).code).toBe('BAD_USER_INPUT');
    expect((await failure(client.family(family).rows({ where: { field: 'meta', eq: { a: 1 } } }))).code).toBe('BAD_USER_INPUT');
    expect((await failure(client.family(family).rows({ where: { field: 'weight' } }))).code).toBe('BAD_USER_INPUT');
  });

  it('limit and offset out of range are BAD_USER_INPUT', async () => {
    expect((await failure(client.family(family).rows({ limit: 1001 }))).code).toBe('BAD_USER_INPUT');
    expect((await failure(client.family(family).rows({ limit: -1 }))).code).toBe('BAD_USER_INPUT');
    expect((await failure(client.family(family).rows({ offset: -5 }))).code).toBe('BAD_USER_INPUT');
  });

  it('injection attempts in values and names stay values', async () => {
    const attempts = [
      "' OR '1'='1",
      "spot' OR 1=1 -- ",
      'spot"; DROP TABLE raw_logs; --',
      `x\\' OR 1=1 #`,
      "max') UNION SELECT * FROM databalancer_placements -- ",
    ];
    for (const value of attempts) {
      expect(await names({ field: 'name', eq: value })).toEqual([]);
      expect(await names({ field: 'name', in: [value, 'max'] })).toEqual(['max']);
      expect(await names({ field: 'name', like: value })).toEqual([]);
    }
    expect(await names({ field: 'name', eq: "o'reilly" })).toEqual(["o'reilly"]);
    const error = await failure(client.family(family).rows({ where: { field: 'name` = name OR 1=1 -- ', eq: 'x' } }));
    expect(error.code).toBe('BAD_USER_INPUT');
    const order = await failure(client.family(family).rows({ orderBy: [{ field: 'name`, (SELECT SLEEP(5))' }] }));
    expect(order.code).toBe('BAD_USER_INPUT');
    // Everything is still there.
    expect((await client.family(family).rows()).rows).toHaveLength(5);
    const shard = (await client.family(family).get()).shard;
    const spec = shards.find((s) => s.name === shard)!;
    expect(await onShard(spec, 'SELECT COUNT(*) AS n FROM raw_logs WHERE family = ?', [family])).toEqual([{ n: 5 }]);
  });

  it('an unknown family is FAMILY_NOT_FOUND', async () => {
    expect((await failure(client.family(uniqueFamily('nope')).rows())).code).toBe('FAMILY_NOT_FOUND');
    expect((await failure(client.family('bad name').rows())).code).toBe('INVALID_FAMILY_NAME');
  });
});
