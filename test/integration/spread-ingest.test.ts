/**
 * Spread families (docs/big-families.md), the write side: placement
 * requests and their refusals, 300,000 events through two gateway processes
 * landing exactly once with ids unique across parts, describe and purges
 * over every part, and a part that is down while the family evolves.
 */
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { startCluster, startServer, stopServer, type Cluster } from '../../scripts/lib/mariadb-cluster.js';
import { api, ingest, onShard, query, spawnGateway, specNamed, startGateway, uniqueFamily, waitForMove, type GatewayProcess, type TestGateway } from './helpers/gateway.js';
import { PART_ACTIVATION_SECONDS, PART_ID_SPAN } from '../../src/shards/shard-manager.js';

const shards = inject('shards');
const names = shards.map((s) => s.name);
/** The 300,000 events go to a database of their own: other tests' raw_logs federation would otherwise copy them. */
const DATABASE = 'databalancer_spread_big';
const onDb = <T = Record<string, unknown>>(spec: (typeof shards)[number], sql: string, values: unknown[] = []): Promise<T[]> => onShard<T>(spec, sql, values, DATABASE);
const schema = { writer: 'string', batch: 'int', seq: 'int', v: 'float' };
let gateway: TestGateway;

beforeAll(async () => {
  gateway = await startGateway(shards, [], { database: DATABASE });
});
afterAll(async () => {
  await gateway.close();
});

const activation = (): Promise<void> => new Promise((resolve) => setTimeout(resolve, PART_ACTIVATION_SECONDS * 1000 + 300));

function events(writer: string, batch: number, count: number): Array<Record<string, unknown>> {
  return Array.from({ length: count }, (_, seq) => ({ writer, batch, seq, v: seq / 4 }));
}

describe('PUT /api/families/{family}/placement', () => {
  it('refuses what is not a list of known shards, leaving out a part, or one other shard', async () => {
    const family = uniqueFamily('sp_refuse');
    const placed = await ingest(gateway, family, schema, events('x', 0, 3));
    const home = placed.body.shard as string;
    const other = names.find((n) => n !== home) as string;
    for (const body of [{}, { shards: 'shard_a' }, { shards: [] }, { shards: [1] }, { shards: [home, 'nope'] }, { shards: [home, home] }, { shards: [other] }]) {
      const answer = await api(gateway, 'PUT', `/api/families/${family}/placement`, body);
      expect({ body, status: answer.status, code: answer.body.error?.code }).toEqual({ body, status: 400, code: 'BAD_USER_INPUT' });
    }
    expect((await api(gateway, 'GET', `/api/families/${family}/placement`)).body).toEqual({ family, shards: [home], spread: false });
    const spread = await api(gateway, 'PUT', `/api/families/${family}/placement`, { shards: [home, other] });
    expect(spread.status).toBe(200);
    expect(spread.body).toEqual({ family, shards: [home, other], spread: true });
    // Only widened: leaving out a part is refused, and nothing changes.
    const narrowed = await api(gateway, 'PUT', `/api/families/${family}/placement`, { shards: [other] });
    expect(narrowed.status).toBe(400);
    expect(narrowed.body.error.message).toContain(home);
    expect((await api(gateway, 'GET', `/api/families/${family}/placement`)).body.shards).toEqual([home, other]);
    expect((await api(gateway, 'GET', `/api/families/${uniqueFamily('ghost')}/placement`)).status).toBe(404);
    const bad = await api(gateway, 'PUT', '/api/families/no-such-name!/placement', { shards: [home] });
    expect(bad.status).toBe(400);
    expect(bad.body.error.code).toBe('INVALID_FAMILY_NAME');
  });

  it('spreads a family before its first event; describe lists it once with every shard and a summed estimate', async () => {
    const family = uniqueFamily('sp_new');
    const answer = await api(gateway, 'PUT', `/api/families/${family}/placement`, { shards: names });
    expect(answer.status).toBe(200);
    expect(answer.body).toEqual({ family, shards: names, spread: true });
    for (const spec of shards) {
      const [{ n }] = (await onDb<{ n: number }>(spec, 'SELECT COUNT(*) AS n FROM information_schema.TABLES WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ?', [DATABASE, family])) as [{ n: number }];
      expect(Number(n)).toBe(1);
    }
    await activation();
    const seen = new Set<string>();
    for (let b = 0; b < 6; b++) {
      const written = await ingest(gateway, family, schema, events('w', b, 10));
      expect(written.status).toBe(200);
      seen.add(written.body.shard as string);
    }
    expect([...seen].sort()).toEqual([...names].sort());
    for (const spec of shards) await onDb(spec, `ANALYZE TABLE \`${family}\``);
    const described = (await api(gateway, 'GET', '/api/describe')).body.tables.filter((t: { name: string }) => t.name === family);
    expect(described).toHaveLength(1);
    expect(described[0]).toMatchObject({ shards: names, rowEstimate: 60 });
    // A purge covers every part.
    await new Promise((resolve) => setTimeout(resolve, 20));
    const purged = await api(gateway, 'DELETE', `/api/log/${family}?before=${encodeURIComponent(new Date().toISOString())}`);
    expect([purged.status, purged.body.deleted]).toEqual([200, 60]);
    for (const spec of shards) expect(await onDb(spec, `SELECT COUNT(*) AS n FROM \`${family}\``)).toEqual([{ n: 0 }]);
  });
});

describe('a part of a spread family moved to another shard', () => {
  it('keeps its rows and its id range; writes and the placement follow it', { timeout: 120_000 }, async () => {
    const family = uniqueFamily('sp_move');
    const [first, second, third] = names as [string, string, string];
    expect((await api(gateway, 'PUT', `/api/families/${family}/placement`, { shards: [first, second] })).status).toBe(200);
    await activation();
    for (let b = 0; b < 4; b++) expect((await ingest(gateway, family, schema, events('pre', b, 25))).status).toBe(200);
    const refused = await api(gateway, 'POST', `/api/families/${family}/move`, { to: third });
    expect([refused.status, refused.body.error.code]).toEqual([400, 'BAD_USER_INPUT']);
    expect((await api(gateway, 'POST', `/api/families/${family}/move`, { from: third, to: first })).status).toBe(400);
    const started = await api(gateway, 'POST', `/api/families/${family}/move`, { from: second, to: third });
    expect(started.status).toBe(202);
    expect(await waitForMove(gateway, family)).toMatchObject({ state: 'done' });
    expect((await api(gateway, 'GET', `/api/families/${family}/placement`)).body).toEqual({ family, shards: [first, third], spread: true });
    const landed = new Set<string>();
    for (let b = 0; b < 4; b++) {
      const answer = await ingest(gateway, family, schema, events('post', b, 25));
      expect(answer.status).toBe(200);
      landed.add(answer.body.shard as string);
    }
    expect([...landed].sort()).toEqual([first, third].sort());
    const moved = specNamed(shards, third);
    const rows = await onDb<{ writer: string; n: number; lo: number }>(moved, `SELECT writer, COUNT(*) AS n, MIN(id) AS lo FROM \`${family}\` GROUP BY writer ORDER BY writer`);
    expect(rows.map((r) => [r.writer, Number(r.n)])).toEqual([['post', 50], ['pre', 50]]);
    for (const row of rows) expect(Number(row.lo)).toBeGreaterThanOrEqual(PART_ID_SPAN);
    expect(await onDb(specNamed(shards, second), 'SELECT COUNT(*) AS n FROM information_schema.TABLES WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ?', [DATABASE, family])).toEqual([{ n: 0 }]);
  });
});

describe('a spread family narrowed by moving a part onto another', () => {
  it('merges the part into the one already there, every row kept once, ids unchanged', { timeout: 120_000 }, async () => {
    const family = uniqueFamily('sp_merge');
    expect((await api(gateway, 'PUT', `/api/families/${family}/placement`, { shards: names })).status).toBe(200);
    await activation();
    for (let b = 0; b < 9; b++) expect((await ingest(gateway, family, schema, events('pre', b, 30))).status).toBe(200);
    const before = new Map<string, number[]>();
    for (const spec of shards) before.set(spec.name, (await onDb<{ id: number }>(spec, `SELECT id FROM \`${family}\` ORDER BY id`)).map((r) => Number(r.id)));
    const [first, , third] = names as [string, string, string];
    const started = await api(gateway, 'POST', `/api/families/${family}/move`, { from: third, to: first });
    expect(started.status).toBe(202);
    expect(await waitForMove(gateway, family)).toMatchObject({ state: 'done' });
    const placement = (await api(gateway, 'GET', `/api/families/${family}/placement`)).body;
    expect(placement.shards).toEqual(names.filter((n) => n !== third));
    const merged = (await onDb<{ id: number }>(specNamed(shards, first), `SELECT id FROM \`${family}\` ORDER BY id`)).map((r) => Number(r.id));
    expect(merged).toEqual([...(before.get(first) ?? []), ...(before.get(third) ?? [])].sort((x, y) => x - y));
    expect(await onDb(specNamed(shards, third), 'SELECT COUNT(*) AS n FROM information_schema.TABLES WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ?', [DATABASE, family])).toEqual([{ n: 0 }]);
    // Writes go on to the parts left.
    const landed = new Set<string>();
    for (let b = 0; b < 4; b++) landed.add((await ingest(gateway, family, schema, events('post', b, 5))).body.shard as string);
    expect([...landed].sort()).toEqual(names.filter((n) => n !== third).sort());
  });
});

describe('a family spread over three shards, written by two gateway processes', () => {
  let a: GatewayProcess;
  let b: GatewayProcess;
  beforeAll(async () => {
    [a, b] = await Promise.all([spawnGateway(shards, [], DATABASE), spawnGateway(shards, [], DATABASE)]);
  }, 120_000);
  afterAll(async () => {
    await Promise.all([a?.kill(), b?.kill()]);
  });

  it('stores 300,000 acknowledged events exactly once, ids unique across parts', { timeout: 240_000 }, async () => {
    const family = uniqueFamily('sp_big');
    expect((await api(a, 'PUT', `/api/families/${family}/placement`, { shards: names })).status).toBe(200);
    await activation();
    const acknowledged = new Map<string, { count: number; shard: string }>();
    let next = 0;
    const batches = 300;
    const client = async (g: GatewayProcess, writer: string): Promise<void> => {
      for (let batch = next++; batch < batches; batch = next++) {
        const answer = await ingest(g, family, schema, events(writer, batch, 1000), { 'idempotency-key': `k-${batch}` });
        if (answer.status !== 200) throw new Error(`batch ${batch}: ${answer.status} ${JSON.stringify(answer.body)}`);
        acknowledged.set(`${writer}/${batch}`, { count: 1000, shard: answer.body.shard as string });
      }
    };
    await Promise.all([client(a, 'a'), client(b, 'b'), client(a, 'a'), client(b, 'b')]);
    expect(acknowledged.size).toBe(batches);
    // A retry of an acknowledged request is answered, wherever it lands.
    const [firstKey, first] = [...acknowledged.entries()][0] as [string, { shard: string }];
    const [writer, batch] = firstKey.split('/') as [string, string];
    const retry = await ingest(b, family, schema, events(writer, Number(batch), 1000), { 'idempotency-key': `k-${batch}` });
    expect([retry.status, retry.body.replayed, retry.body.shard]).toEqual([200, true, first.shard]);

    const perShard = new Map<string, number>();
    const ids: number[] = [];
    const stored = new Map<string, { n: number; shard: string }>();
    for (const spec of shards) {
      const rows = await onDb<{ writer: string; batch: number; n: number; d: number; lo: number; hi: number }>(
        spec,
        `SELECT writer, batch, COUNT(*) AS n, COUNT(DISTINCT seq) AS d, MIN(id) AS lo, MAX(id) AS hi FROM \`${family}\` GROUP BY writer, batch`,
      );
      for (const row of rows) {
        const key = `${row.writer}/${row.batch}`;
        expect(stored.has(key)).toBe(false); // one request, one part
        stored.set(key, { n: Number(row.n), shard: spec.name });
        expect(Number(row.d)).toBe(Number(row.n));
        ids.push(Number(row.lo), Number(row.hi));
      }
      const [{ n }] = (await onDb<{ n: number }>(spec, `SELECT COUNT(*) AS n FROM \`${family}\``)) as [{ n: number }];
      perShard.set(spec.name, Number(n));
      const [{ raws }] = (await onDb<{ raws: number }>(spec, 'SELECT COUNT(*) AS raws FROM raw_logs WHERE family = ?', [family])) as [{ raws: number }];
      expect(Number(raws)).toBe(Number(n));
    }
    for (const [key, { count, shard }] of acknowledged) expect({ key, ...stored.get(key) }).toEqual({ key, n: count, shard });
    expect(stored.size).toBe(batches);
    expect([...perShard.values()].reduce((x, y) => x + y, 0)).toBe(300_000);
    for (const n of perShard.values()) expect(n).toBeGreaterThan(50_000);
    // Ids: each part in its own range, so no two parts share one.
    for (const spec of shards) {
      const index = names.indexOf(spec.name);
      const [{ lo, hi }] = (await onDb<{ lo: number; hi: number }>(spec, `SELECT MIN(id) AS lo, MAX(id) AS hi FROM \`${family}\``)) as [{ lo: number; hi: number }];
      expect(Number(lo)).toBeGreaterThanOrEqual(index * PART_ID_SPAN);
      expect(Number(hi)).toBeLessThan((index + 1) * PART_ID_SPAN);
    }
    expect(new Set(ids).size).toBe(ids.length);
  });
});

describe('a spread family with a part down', () => {
  let cluster: Cluster;
  let g: TestGateway;
  beforeAll(async () => {
    cluster = await startCluster({ count: 3, names: ['sp_a', 'sp_b', 'sp_c'] });
    g = await startGateway(cluster.servers, ['--write_timeout_ms=5000']);
  }, 120_000);
  afterAll(async () => {
    await g?.close();
    await cluster?.stop();
  });

  it('keeps taking events on the other parts, new columns included; the part gets them before its next write; queries answer 503 naming it', { timeout: 180_000 }, async () => {
    const family = uniqueFamily('sp_down');
    const all = cluster.servers.map((s) => s.name);
    expect((await api(g, 'PUT', `/api/families/${family}/placement`, { shards: all })).status).toBe(200);
    await activation();
    for (let i = 0; i < 3; i++) expect((await ingest(g, family, schema, events('before', i, 5))).status).toBe(200);
    const down = specNamed(cluster.servers, 'sp_c');
    await stopServer(down);
    try {
      // A new field while sp_c is down: every request lands on sp_a or sp_b.
      for (let i = 0; i < 6; i++) {
        const answer = await ingest(g, family, { ...schema, color: 'string' }, [{ writer: 'during', batch: i, seq: 0, v: 1, color: `c${i}` }]);
        expect(answer.status).toBe(200);
        expect(answer.body.shard).not.toBe('sp_c');
      }
      const queried = await query(g, `SELECT COUNT(*) AS n FROM ${family}`);
      expect(queried.status).toBe(503);
      expect(queried.body.error.code).toBe('SHARD_UNAVAILABLE');
      expect(JSON.stringify(queried.body.error)).toContain('sp_c');
    } finally {
      await startServer(down);
    }
    // Back up: its next write adds the column first.
    let landed = false;
    for (let i = 0; i < 6 && !landed; i++) {
      const answer = await ingest(g, family, { ...schema, color: 'string' }, [{ writer: 'after', batch: i, seq: 0, v: 2, color: `after${i}` }]);
      expect(answer.status).toBe(200);
      landed = answer.body.shard === 'sp_c';
    }
    expect(landed).toBe(true);
    const colors = await onShard<{ color: string }>(down, `SELECT color FROM \`${family}\` WHERE writer = 'after'`);
    expect(colors.length).toBe(1);
    expect(colors[0]?.color).toMatch(/^after/);
  });
});
