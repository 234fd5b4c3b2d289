/**
 * Describe, health, metrics and unknown routes: describe lists every family
 * on every shard (with the seed keys and its shard), /healthz and /readyz
 * answer, /metrics exposes databalancer_ metrics, and an unknown route is a
 * 404 in the error envelope.
 */
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { api, familiesOnShards, ingest, startGateway, uniqueFamily, type TestGateway } from './helpers/gateway.js';

const shards = inject('shards');
let gateway: TestGateway;

beforeAll(async () => {
  gateway = await startGateway(shards);
});
afterAll(async () => {
  await gateway.close();
});

describe('describe and operations endpoints', () => {
  it('GET /api/describe lists every family on every shard with its columns and shard', async () => {
    const spread = await familiesOnShards(gateway, ['shard_a', 'shard_b', 'shard_c'], 'desc');
    const evolved = spread.get('shard_b') as string;
    expect((await ingest(gateway, evolved, { when: 'timestamp', ok: 'bool', doc: 'json', day: 'date', x: 'float' }, [{}])).status).toBe(200);

    const described = await api(gateway, 'GET', '/api/describe');
    expect(described.status).toBe(200);
    const tables = new Map<string, { name: string; shard: string; columns: Array<{ name: string; nullable: boolean; type: string }> }>(
      described.body.tables.map((t: { name: string }) => [t.name, t]),
    );
    for (const [shard, family] of spread) {
      expect(tables.get(family)?.shard).toBe(shard);
    }
    expect(tables.get(spread.get('shard_a') as string)?.columns.map(({ name, nullable, type }) => ({ name, nullable, type }))).toEqual([
      { name: 'id', nullable: false, type: 'bigint' },
      { name: 'n', nullable: true, type: 'bigint' },
    ]);
    const columns = tables.get(evolved)?.columns.map((c) => [c.name, c.nullable]);
    expect(columns).toEqual([
      ['id', false],
      ['n', true],
      ['when', true],
      ['ok', true],
      ['doc', true],
      ['day', true],
      ['x', true],
    ]);
    const types = Object.fromEntries(tables.get(evolved)?.columns.map((c) => [c.name, c.type]) ?? []);
    expect(types).toMatchObject({ when: 'datetime', ok: 'tinyint', day: 'date', x: 'double' });
    expect(['json', 'longtext']).toContain(types['doc']);
    expect(described.body.tables.map((t: { name: string }) => t.name)).not.toContain('raw_logs');
  });

  it('GET /healthz is 200 and GET /readyz is 200 with every shard reachable', async () => {
    const health = await api(gateway, 'GET', '/healthz');
    expect(health.status).toBe(200);
    const ready = await api(gateway, 'GET', '/readyz');
    expect(ready.status).toBe(200);
    expect(ready.body.shards.map((s: { name: string; reachable: boolean }) => [s.name, s.reachable])).toEqual([
      ['shard_a', true],
      ['shard_b', true],
      ['shard_c', true],
    ]);
    expect(JSON.stringify(ready.body)).not.toContain('password');
  });

  it('GET /metrics exposes databalancer_ metrics, including ingested events', async () => {
    expect((await ingest(gateway, uniqueFamily('metrics'), { n: 'int' }, [{ n: 1 }, { n: 2 }])).status).toBe(200);
    const response = await fetch(`${gateway.url}/metrics`);
    expect(response.status).toBe(200);
    const text = await response.text();
    expect(text).toMatch(/^databalancer_http_requests_total\{/m);
    expect(text).toMatch(/^databalancer_ingested_events_total\{shard="shard_[abc]"\} \d+/m);
    expect(text).toMatch(/^databalancer_process_cpu_user_seconds_total/m);
  });

  it.each([
    ['GET', '/nope'],
    ['GET', '/api/nope'],
    ['DELETE', '/api'],
  ])('%s %s is 404 ROUTE_NOT_FOUND in the error envelope', async (method, path) => {
    const answer = await api(gateway, method, path);
    expect(answer.status).toBe(404);
    expect(answer.body.error.code).toBe('ROUTE_NOT_FOUND');
    expect(typeof answer.body.error.message).toBe('string');
    expect(answer.headers.get('content-type')).toMatch(/application\/json/);
  });

  it('a known path with the wrong method is 405 METHOD_NOT_ALLOWED in the error envelope', async () => {
    const answer = await api(gateway, 'POST', '/api/describe');
    expect(answer.status).toBe(405);
    expect(answer.body.error.code).toBe('METHOD_NOT_ALLOWED');
    expect(typeof answer.body.error.message).toBe('string');
  });
});
