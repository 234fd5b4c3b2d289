/**
 * The seed's curl examples, unchanged, against three real shards.
 */
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { api, onShard, startGateway, tableExists, type TestGateway } from './helpers/gateway.js';

const shards = inject('shards');
let gateway: TestGateway;

beforeAll(async () => {
  gateway = await startGateway(shards);
});
afterAll(async () => {
  await gateway.close();
});

const family = `dog_registry_${process.pid}`;
const seedBody = (name: string) => ({
  family: name,
  schema: { name: 'string', breed: 'string', weight: 'int' },
  logs: [
    { name: 'spot', breed: 'labrador', weight: 100 },
    { name: 'max', breed: 'chihuahua', weight: 3 },
    { name: 'sprinkle', breed: 'pitbull', weight: 50 },
  ],
});

describe('seed examples', () => {
  it('PUT /api/log creates the typed table on one shard and appends on repeat', async () => {
    const first = await api(gateway, 'PUT', '/api/log', seedBody(family));
    expect(first.status).toBe(200);
    expect(first.body).toMatchObject({ family, ingested: 3 });
    const shard = shards.find((s) => s.name === first.body.shard);
    expect(shard).toBeDefined();
    const holders = await Promise.all(shards.map((s) => tableExists(s, family)));
    expect(holders.filter(Boolean)).toHaveLength(1);

    const second = await api(gateway, 'PUT', '/api/log', seedBody(family));
    expect(second.status).toBe(200);
    expect(second.body.shard).toBe(first.body.shard);
    const rows = await onShard(shard!, `SELECT name, breed, weight FROM \`${family}\` ORDER BY id`);
    expect(rows).toHaveLength(6);
    const raw = await onShard(shard!, 'SELECT family, log FROM raw_logs WHERE family = ? ORDER BY id', [family]);
    expect(raw).toHaveLength(6);
    const log = (raw[0] as { log: unknown }).log;
    expect(typeof log === 'string' ? JSON.parse(log) : log).toEqual({ name: 'spot', breed: 'labrador', weight: 100 });
  });

  it('POST /api/query returns id, name, breed, weight and filters like the seed', async () => {
    const all = await api(gateway, 'POST', '/api/query', { query: `SELECT * FROM \`${family}\`;` });
    expect(all.status).toBe(200);
    expect(Object.keys(all.body.results[0])).toEqual(['id', 'name', 'breed', 'weight']);
    const filtered = await api(gateway, 'POST', '/api/query', {
      query: `select * from ${family} where breed = "labrador" and name != "max" order by weight`,
    });
    expect(filtered.status).toBe(200);
    expect(filtered.body.results.map((r: { name: string }) => r.name)).toEqual(['spot', 'spot']);
  });

  it('GET /api/describe lists the family with the seed keys', async () => {
    const described = await api(gateway, 'GET', '/api/describe');
    expect(described.status).toBe(200);
    const table = described.body.tables.find((t: { name: string }) => t.name === family);
    expect(table.columns.map((c: { name: string; nullable: boolean; type: string }) => [c.name, c.nullable, c.type])).toEqual([
      ['id', false, 'bigint'],
      ['name', true, 'text'],
      ['breed', true, 'text'],
      ['weight', true, 'bigint'],
    ]);
  });
});

describe('unknown routes and methods', () => {
  it('answers 404 ROUTE_NOT_FOUND and 405 METHOD_NOT_ALLOWED with the error envelope', async () => {
    const missing = await api(gateway, 'GET', '/api/nothing');
    expect(missing.status).toBe(404);
    expect(missing.body.error.code).toBe('ROUTE_NOT_FOUND');
    const wrongMethod = await api(gateway, 'GET', '/api/log');
    expect(wrongMethod.status).toBe(405);
    expect(wrongMethod.body.error.code).toBe('METHOD_NOT_ALLOWED');
    expect(wrongMethod.headers.get('allow')).toContain('PUT');
  });
});
