/**
 * A shard that is down, on a private three-server cluster (never the shared
 * shards): families elsewhere keep working, requests that need the down shard
 * get 503 SHARD_UNAVAILABLE naming it, /readyz is 503, and once the server is
 * back everything works again without restarting the gateway.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startCluster, startServer, stopServer, type Cluster, type ServerSpec } from '../../scripts/lib/mariadb-cluster.js';
import { api, familiesOnShards, ingest, onShard, query, specNamed, startGateway, type TestGateway } from './helpers/gateway.js';

let cluster: Cluster;
let gateway: TestGateway;
/** shard name -> a family living there. */
let homes: Map<string, string>;
let down: ServerSpec;

beforeAll(async () => {
  cluster = await startCluster({ count: 3, names: ['out_a', 'out_b', 'out_c'] });
  gateway = await startGateway(cluster.servers);
  homes = await familiesOnShards(gateway, ['out_a', 'out_b', 'out_c'], 'outage');
  down = specNamed(cluster.servers, 'out_c');
  // Warm the pools of the shard that will go down, so the gateway holds connections that will die.
  const family = homes.get('out_c') as string;
  await Promise.all(Array.from({ length: 4 }, (_, i) => ingest(gateway, family, { n: 'int' }, [{ n: 100 + i }])));
  await Promise.all(Array.from({ length: 4 }, () => query(gateway, `SELECT COUNT(*) AS c FROM ${family}`)));
});
afterAll(async () => {
  await gateway?.close();
  await cluster?.stop();
});

/** Retries `attempt` until it answers 200, at most `tries` times `delayMs` apart; returns the answers seen. */
async function untilOk(attempt: () => Promise<{ status: number; body: any }>, tries: number, delayMs: number): Promise<Array<{ status: number; body: any }>> {
  const seen = [];
  for (let i = 0; i < tries; i++) {
    const answer = await attempt();
    seen.push(answer);
    if (answer.status === 200) break;
    await new Promise((resolve) => setTimeout(resolve, delayMs));
  }
  return seen;
}

describe('a shard outage', () => {
  it('while a shard is down, the others serve; its families are 503 naming it; then it recovers', async () => {
    const onDown = homes.get('out_c') as string;
    await stopServer(down);
    try {
      for (const shard of ['out_a', 'out_b']) {
        const family = homes.get(shard) as string;
        const written = await ingest(gateway, family, { n: 'int' }, [{ n: 1 }, { n: 2 }]);
        expect(written.status).toBe(200);
        expect(written.body.shard).toBe(shard);
        const read = await query(gateway, `SELECT COUNT(*) AS c FROM ${family}`);
        expect(read.status).toBe(200);
        expect(read.body.results).toEqual([{ c: 3 }]);
      }
      // A cross-shard query between the two healthy shards still runs.
      const join = await query(gateway, `SELECT COUNT(*) AS c FROM ${homes.get('out_a')} a JOIN ${homes.get('out_b')} b ON a.n = b.n`);
      expect(join.status).toBe(200);

      // Every request that needs the down shard: 503 SHARD_UNAVAILABLE naming it (twice, so dead pooled connections and new connects both count).
      for (let i = 0; i < 2; i++) {
        const write = await ingest(gateway, onDown, { n: 'int' }, [{ n: 1 }]);
        expect(write.status).toBe(503);
        expect(write.body.error).toMatchObject({ code: 'SHARD_UNAVAILABLE', shard: 'out_c' });
        const read = await query(gateway, `SELECT * FROM ${onDown}`);
        expect(read.status).toBe(503);
        expect(read.body.error).toMatchObject({ code: 'SHARD_UNAVAILABLE', shard: 'out_c' });
        const join = await query(gateway, `SELECT COUNT(*) AS c FROM ${homes.get('out_a')} a JOIN ${onDown} b ON a.n = b.n`);
        expect(join.status).toBe(503);
        expect(join.body.error).toMatchObject({ code: 'SHARD_UNAVAILABLE', shard: 'out_c' });
        const raw = await query(gateway, 'SELECT family, COUNT(*) AS c FROM raw_logs GROUP BY family');
        expect(raw.status).toBe(503);
        expect(raw.body.error).toMatchObject({ code: 'SHARD_UNAVAILABLE', shard: 'out_c' });
      }
      // A bad request is still a 400, whatever the shards do.
      const bad = await ingest(gateway, onDown, { n: 'int' }, [{ n: 'x' }]);
      expect(bad.status).toBe(400);

      const ready = await api(gateway, 'GET', '/readyz');
      expect(ready.status).toBe(503);
      expect(ready.body.shards.find((s: { name: string }) => s.name === 'out_c')).toMatchObject({ reachable: false });
      expect(ready.body.shards.find((s: { name: string }) => s.name === 'out_a')).toMatchObject({ reachable: true });
      expect((await api(gateway, 'GET', '/healthz')).status).toBe(200);
      // describe answers from the catalog and still lists the family on the down shard.
      const described = await api(gateway, 'GET', '/api/describe');
      expect(described.status).toBe(200);
      expect(described.body.tables.map((t: { name: string }) => t.name)).toContain(onDown);
    } finally {
      await startServer(down);
    }

    // Back: without restarting the gateway, the first retry at the latest works.
    const writes = await untilOk(() => ingest(gateway, onDown, { n: 'int' }, [{ n: 7 }]), 2, 200);
    expect(writes.map((w) => w.status)).toContain(200);
    const reads = await untilOk(() => query(gateway, `SELECT COUNT(*) AS c FROM ${onDown} WHERE n = 7`), 2, 200);
    expect(reads.at(-1)).toMatchObject({ status: 200, body: { results: [{ c: 1 }] } });
    // Everything, immediately and repeatedly, from here on.
    for (let i = 0; i < 6; i++) {
      const [write, read, raw] = await Promise.all([
        ingest(gateway, onDown, { n: 'int' }, [{ n: 8 }]),
        query(gateway, `SELECT COUNT(*) AS c FROM ${onDown}`),
        query(gateway, 'SELECT family, COUNT(*) AS c FROM raw_logs GROUP BY family'),
      ]);
      expect([write.status, read.status, raw.status]).toEqual([200, 200, 200]);
    }
    expect((await api(gateway, 'GET', '/readyz')).status).toBe(200);
    const rows = await onShard<{ c: number }>(down, `SELECT COUNT(*) AS c FROM \`${onDown}\` WHERE n IN (7, 8)`);
    expect(rows[0]?.c).toBe(7);
  });

  it('a restart between two requests (pooled connections died unseen) costs at most one retry', async () => {
    const onDown = homes.get('out_c') as string;
    // Fill both pools of the shard with live connections.
    await Promise.all(Array.from({ length: 4 }, (_, i) => ingest(gateway, onDown, { n: 'int' }, [{ n: 200 + i }])));
    await Promise.all(Array.from({ length: 4 }, () => query(gateway, `SELECT COUNT(*) AS c FROM ${onDown}`)));
    await stopServer(down);
    await startServer(down);
    const writes = await untilOk(() => ingest(gateway, onDown, { n: 'int' }, [{ n: 300 }]), 2, 200);
    expect(writes.at(-1)?.status).toBe(200);
    const reads = await untilOk(() => query(gateway, `SELECT COUNT(*) AS c FROM ${onDown} WHERE n = 300`), 2, 200);
    expect(reads.at(-1)).toMatchObject({ status: 200, body: { results: [{ c: 1 }] } });
    const answers = await Promise.all(Array.from({ length: 6 }, () => query(gateway, `SELECT COUNT(*) AS c FROM ${onDown}`)));
    expect(answers.map((a) => a.status)).toEqual([200, 200, 200, 200, 200, 200]);
  });
});
