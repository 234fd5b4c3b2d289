/**
 * A new family whose shard is down: the request answers 503 and leaves no
 * catalog row (a placement is written only once the family's table exists),
 * so the family does not appear anywhere; once the shard is back, the same
 * request succeeds. On a private two-server cluster (the catalog lives on the
 * first, which stays up).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startCluster, startServer, stopServer, type Cluster, type ServerSpec } from '../../scripts/lib/mariadb-cluster.js';
import { HashRing } from '../../src/shards/ring.js';
import { api, onShard, ingest, snapshotFamily, specNamed, startGateway, uniqueFamily, type TestGateway } from './helpers/gateway.js';

let cluster: Cluster;
let gateway: TestGateway;
let down: ServerSpec;

beforeAll(async () => {
  cluster = await startCluster({ count: 2, names: ['pl_a', 'pl_b'] });
  gateway = await startGateway(cluster.servers, ['--purge_interval_seconds=0']);
  down = specNamed(cluster.servers, 'pl_b');
});
afterAll(async () => {
  await gateway?.close();
  await cluster?.stop();
});

/** A fresh family name the ring puts on `shard`. */
function familyOn(shard: string): string {
  const ring = new HashRing(gateway.config.shards.map((s) => s.id), gateway.config.ringVnodes);
  for (let i = 0; i < 500; i++) {
    const family = uniqueFamily('placed');
    if (ring.shardFor(family) === shard) return family;
  }
  throw new Error(`no family name hashed to ${shard} in 500 tries`);
}

describe('placing a family on a shard that is down', () => {
  it('answers 503, writes no placement; after the shard is back the same request succeeds', async () => {
    const family = familyOn('pl_b');
    const schema = { n: 'int', s: 'string' };
    await stopServer(down);
    try {
      for (let i = 0; i < 2; i++) {
        const answer = await ingest(gateway, family, schema, [{ n: 1, s: 'a' }], { 'Idempotency-Key': `k-${family}` });
        expect(answer.status, JSON.stringify(answer.body)).toBe(503);
        expect(answer.body.error).toMatchObject({ code: 'SHARD_UNAVAILABLE', shard: 'pl_b' });
      }
      const catalog = await onShard(cluster.servers[0] as ServerSpec, 'SELECT family FROM databalancer_placements WHERE family = ?', [family]);
      expect(catalog).toEqual([]);
      const declared = await onShard(cluster.servers[0] as ServerSpec, 'SELECT name FROM databalancer_columns WHERE family = ?', [family]);
      expect(declared).toEqual([]);
      // Not a family: describe does not list it, purge and retention say it does not exist.
      const described = await api(gateway, 'GET', '/api/describe');
      expect(described.status).toBe(200);
      expect(described.body.tables.map((t: { name: string }) => t.name)).not.toContain(family);
      const purge = await api(gateway, 'DELETE', `/api/log/${family}?before=2020-01-01T00:00:00Z`);
      expect(purge.status).toBe(404);
      expect(purge.body.error.code).toBe('FAMILY_NOT_FOUND');
    } finally {
      await startServer(down);
    }

    let answer = await ingest(gateway, family, schema, [{ n: 1, s: 'a' }], { 'Idempotency-Key': `k-${family}` });
    // The first request after the restart may meet a pooled connection that died with the server.
    if (answer.status === 503) answer = await ingest(gateway, family, schema, [{ n: 1, s: 'a' }], { 'Idempotency-Key': `k-${family}` });
    expect(answer.status, JSON.stringify(answer.body)).toBe(200);
    expect(answer.body).toMatchObject({ family, shard: 'pl_b', ingested: 1, replayed: false });
    const snapshot = await snapshotFamily(cluster.servers, family);
    expect(snapshot.placements).toEqual(['pl_b']);
    expect(snapshot.declared).toEqual(['n:int', 's:string']);
    expect(snapshot.rows).toEqual({ pl_a: 0, pl_b: 1 });
    expect(snapshot.rawLogs).toEqual({ pl_a: 0, pl_b: 1 });
  });

  it('an idempotency table created before request hashes existed gets the column at bootstrap, and old keys still replay', async () => {
    const family = familyOn('pl_a');
    const first = await ingest(gateway, family, { n: 'int' }, [{ n: 1 }], { 'Idempotency-Key': `old-${family}` });
    expect(first.status).toBe(200);
    const spec = cluster.servers[0] as ServerSpec;
    // As an older gateway left it: no request_hash column.
    await onShard(spec, 'ALTER TABLE databalancer_idempotency DROP COLUMN request_hash');
    const fresh = await startGateway(cluster.servers, ['--purge_interval_seconds=0']);
    try {
      const again = await ingest(fresh, family, { n: 'int' }, [{ n: 1 }], { 'Idempotency-Key': `old-${family}` });
      expect(again.status, JSON.stringify(again.body)).toBe(200);
      expect(again.body.replayed).toBe(true);
      const columns = await onShard<{ name: string }>(
        spec,
        "SELECT COLUMN_NAME AS name FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = 'databalancer' AND TABLE_NAME = 'databalancer_idempotency' AND COLUMN_NAME = 'request_hash'",
      );
      expect(columns).toEqual([{ name: 'request_hash' }]);
      // A key applied by the fresh gateway is hashed: reusing it for another body is 422.
      const next = await ingest(fresh, family, { n: 'int' }, [{ n: 2 }], { 'Idempotency-Key': `new-${family}` });
      expect(next.status).toBe(200);
      const reused = await ingest(fresh, family, { n: 'int' }, [{ n: 3 }], { 'Idempotency-Key': `new-${family}` });
      expect(reused.status).toBe(422);
    } finally {
      await fresh.close();
    }
  });
});
