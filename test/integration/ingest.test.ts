/**
 * Placement and schema evolution against the three shared shards: new
 * families spread over every shard, each lives on exactly one, the catalog
 * records where, queries name families without knowing where they live, and
 * later requests add nullable columns or are refused without writing.
 */
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import {
  holdersOf,
  ingest,
  onShard,
  query,
  snapshotFamily,
  specNamed,
  startGateway,
  uniqueFamily,
  TEST_DATABASE,
  type TestGateway,
} from './helpers/gateway.js';

const shards = inject('shards');
const catalog = specNamed(shards, 'shard_a');
let gateway: TestGateway;

beforeAll(async () => {
  gateway = await startGateway(shards);
});
afterAll(async () => {
  await gateway.close();
});

describe('placement', () => {
  it('many brand-new families at once on a tiny pool do not starve it (the catalog shares the first shard\'s pool)', async () => {
    // Regression: the DDL path held a connection of shard_a's pool while it
    // waited for another one to record the schema in the catalog (also on
    // shard_a), so concurrent new families exhausted the pool and got 503s.
    const small = await startGateway(shards, ['--pool_max=2']);
    try {
      const families = Array.from({ length: 12 }, (_, i) => uniqueFamily(`starve${i}`));
      const answers = await Promise.all(families.map((family, i) => ingest(small, family, { idx: 'int' }, [{ idx: i }])));
      for (const answer of answers) expect(answer.status, JSON.stringify(answer.body)).toBe(200);
    } finally {
      await small.close();
    }
  });

  it('30 new families spread over all three shards, each on exactly one, recorded in the catalog', async () => {
    const families = Array.from({ length: 30 }, (_, i) => uniqueFamily(`place${i}`));
    const answers = await Promise.all(
      families.map((family, i) => ingest(gateway, family, { idx: 'int', label: 'string' }, [{ idx: i, label: family }])),
    );
    const placedOn = new Map<string, string>();
    answers.forEach((answer, i) => {
      expect(answer.status).toBe(200);
      expect(answer.body).toMatchObject({ family: families[i], ingested: 1 });
      placedOn.set(families[i] as string, String(answer.body.shard));
    });
    expect(new Set(placedOn.values())).toEqual(new Set(['shard_a', 'shard_b', 'shard_c']));

    const catalogRows = await onShard<{ family: string; shard: string }>(
      catalog,
      'SELECT family, shard FROM databalancer_placements WHERE family IN (?)',
      [families],
    );
    expect(new Map(catalogRows.map((r) => [r.family, r.shard]))).toEqual(placedOn);

    for (const family of families) {
      expect(await holdersOf(shards, family)).toEqual([placedOn.get(family)]);
    }
    // The raw copy sits on the family's shard only.
    for (const family of families.slice(0, 6)) {
      const snapshot = await snapshotFamily(shards, family);
      const home = placedOn.get(family) as string;
      expect(snapshot.rawLogs).toEqual(Object.fromEntries(shards.map((s) => [s.name, s.name === home ? 1 : 0])));
    }

    // Queries name families, never shards.
    for (const [i, family] of families.entries()) {
      const answer = await query(gateway, `SELECT idx, label FROM ${family}`);
      expect(answer.status).toBe(200);
      expect(answer.body.results).toEqual([{ idx: i, label: family }]);
    }
  });

  it('a second gateway over the same shards finds families where the first placed them', async () => {
    const family = uniqueFamily('replace');
    const first = await ingest(gateway, family, { v: 'int' }, [{ v: 1 }]);
    expect(first.status).toBe(200);
    const other = await startGateway(shards);
    try {
      const second = await ingest(other, family, { v: 'int' }, [{ v: 2 }]);
      expect(second.status).toBe(200);
      expect(second.body.shard).toBe(first.body.shard);
      const answer = await query(other, `SELECT v FROM ${family} ORDER BY v`);
      expect(answer.body.results).toEqual([{ v: 1 }, { v: 2 }]);
    } finally {
      await other.close();
    }
  });
});

describe('schema evolution', () => {
  it('a later request with a new field adds a nullable column; older rows read NULL', async () => {
    const family = uniqueFamily('evolve');
    const first = await ingest(gateway, family, { name: 'string', weight: 'int' }, [
      { name: 'spot', weight: 100 },
      { name: 'max', weight: 3 },
    ]);
    expect(first.status).toBe(200);
    const home = specNamed(shards, first.body.shard);

    const second = await ingest(gateway, family, { name: 'string', color: 'string', born: 'date' }, [
      { name: 'rex', color: 'brown', born: '2020-05-01' },
    ]);
    expect(second.status).toBe(200);
    expect(second.body.shard).toBe(first.body.shard);

    const columns = await onShard<{ name: string; nullable: string; type: string }>(
      home,
      'SELECT COLUMN_NAME AS name, IS_NULLABLE AS nullable, DATA_TYPE AS type FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ? ORDER BY ORDINAL_POSITION',
      [TEST_DATABASE, family],
      null,
    );
    const visible = columns.filter((c) => c.name !== '_ingested_at' && c.name !== '_raw');
    expect(visible.map((c) => [c.name, c.type])).toEqual([
      ['id', 'bigint'],
      ['name', 'text'],
      ['weight', 'bigint'],
      ['color', 'text'],
      ['born', 'date'],
    ]);
    for (const column of visible.slice(1)) expect(column.nullable).toBe('YES');

    const answer = await query(gateway, `SELECT * FROM ${family} ORDER BY id`);
    expect(answer.status).toBe(200);
    expect(answer.body.results.map((r: Record<string, unknown>) => ({ ...r, id: undefined }))).toEqual([
      { id: undefined, name: 'spot', weight: 100, color: null, born: null },
      { id: undefined, name: 'max', weight: 3, color: null, born: null },
      { id: undefined, name: 'rex', weight: null, color: 'brown', born: '2020-05-01' },
    ]);
    expect(Object.keys(answer.body.results[0])).toEqual(['id', 'name', 'weight', 'color', 'born']);
  });

  it('redeclaring a field with another type is 409 SCHEMA_CONFLICT and writes nothing (not even a new column)', async () => {
    const family = uniqueFamily('conflict');
    expect((await ingest(gateway, family, { weight: 'int' }, [{ weight: 1 }])).status).toBe(200);
    const before = await snapshotFamily(shards, family);

    const answer = await ingest(gateway, family, { weight: 'string', extra: 'string' }, [{ weight: 'heavy', extra: 'x' }]);
    expect(answer.status).toBe(409);
    expect(answer.body.error.code).toBe('SCHEMA_CONFLICT');
    expect(answer.body.error).toMatchObject({ field: 'weight', storedType: 'int', requestedType: 'string' });
    expect(answer.body.error.message.length).toBeGreaterThan(0);
    expect(await snapshotFamily(shards, family)).toEqual(before);

    // A fresh gateway (no cache) gives the same answer from the catalog.
    const other = await startGateway(shards);
    try {
      const again = await ingest(other, family, { weight: 'float' }, [{ weight: 1.5 }]);
      expect(again.status).toBe(409);
      expect(again.body.error.code).toBe('SCHEMA_CONFLICT');
    } finally {
      await other.close();
    }
    expect(await snapshotFamily(shards, family)).toEqual(before);
  });

  it('field names that differ only by case collide: 400, within a request and against stored columns', async () => {
    const family = uniqueFamily('case');
    const inRequest = await ingest(gateway, family, { Name: 'string', name: 'string' }, [{ Name: 'a', name: 'b' }]);
    expect(inRequest.status).toBe(400);
    expect(inRequest.body.error.code).toBe('INVALID_FIELD_NAME');
    const fresh = await snapshotFamily(shards, family);
    expect(fresh.placements).toEqual([]);
    expect(Object.values(fresh.columns).every((c) => c === null)).toBe(true);

    expect((await ingest(gateway, family, { name: 'string' }, [{ name: 'a' }])).status).toBe(200);
    const before = await snapshotFamily(shards, family);
    const against = await ingest(gateway, family, { NAME: 'string' }, [{ NAME: 'b' }]);
    expect(against.status).toBe(400);
    expect(against.body.error.code).toBe('INVALID_FIELD_NAME');
    expect(await snapshotFamily(shards, family)).toEqual(before);
  });

  it('type names are case-insensitive and an identical redeclaration is fine', async () => {
    const family = uniqueFamily('typecase');
    expect((await ingest(gateway, family, { n: 'INT', s: 'String' }, [{ n: 1, s: 'a' }])).status).toBe(200);
    const again = await ingest(gateway, family, { n: 'bigint', s: 'TEXT' }, [{ n: 2, s: 'b' }]);
    expect(again.status).toBe(200);
    const answer = await query(gateway, `SELECT n, s FROM ${family} ORDER BY n`);
    expect(answer.body.results).toEqual([{ n: 1, s: 'a' }, { n: 2, s: 'b' }]);
  });
});
