/**
 * A family moved while it is in use, with real gateway processes: two
 * processes ingest into it without pause and a third client queries it
 * while 200,000+ rows move; at the end every acknowledged event is on the
 * target exactly once (typed row and raw copy) and nothing is left on the
 * source. Then the process driving a move is killed (another resumes it),
 * and a target shard is killed mid-copy (the move fails, the family stays
 * and keeps working).
 */
import { afterAll, beforeAll, describe, expect, inject, it, onTestFinished } from 'vitest';
import { startCluster, stopServer, type Cluster } from '../../scripts/lib/mariadb-cluster.js';
import { api, ingest, onShard, query, spawnGateway, specNamed, startGateway, tableExists, uniqueFamily, waitForMove, type GatewayProcess, type TestGateway } from './helpers/gateway.js';

const shards = inject('shards');
/** A database of its own: other tests' raw_logs federation would otherwise copy these hundreds of thousands of rows. */
const DATABASE = 'databalancer_moves_online';
/** A statement on a shard's database of this file. */
const onDb = <T = Record<string, unknown>>(spec: (typeof shards)[number], sql: string, values: unknown[] = []): Promise<T[]> => onShard<T>(spec, sql, values, DATABASE);
const schema = { writer: 'string', batch: 'int', seq: 'int', note: 'string' };


function events(writer: string, batch: number, count: number): Array<Record<string, unknown>> {
  return Array.from({ length: count }, (_, seq) => ({ writer, batch, seq, note: `${writer}/${batch}/${seq} "q" \\ é` }));
}

/** Ingests `total` events in batches of 1000 from 4 concurrent clients. */
async function preload(g: { url: string }, family: string, total: number): Promise<void> {
  let next = 0;
  const batches = Math.ceil(total / 1000);
  const client = async (): Promise<void> => {
    for (let b = next++; b < batches; b = next++) {
      const answer = await ingest(g, family, schema, events('preload', b, 1000));
      if (answer.status !== 200) throw new Error(`preload batch ${b}: ${answer.status} ${JSON.stringify(answer.body)}`);
    }
  };
  await Promise.all([client(), client(), client(), client()]);
}

describe('a family moved while two gateway processes ingest into it and a client queries it', () => {
  let a: GatewayProcess;
  let b: GatewayProcess;
  beforeAll(async () => {
    [a, b] = await Promise.all([
      spawnGateway(shards, ['--move_lease_seconds=3', '--move_rows_per_second=0'], DATABASE),
      spawnGateway(shards, ['--move_lease_seconds=3'], DATABASE),
    ]);
  }, 120_000);
  afterAll(async () => {
    await Promise.all([a?.kill(), b?.kill()]);
  });

  it('keeps every acknowledged event exactly once, on the target only', { timeout: 300_000 }, async () => {
    const family = uniqueFamily('mv_online');
    const preloaded = 200_000;
    await preload(a, family, preloaded);
    const home = (await ingest(b, family, schema, [])).body.shard as string;
    const to = shards.map((s) => s.name).find((n) => n !== home) as string;

    let moving = true;
    const acknowledged: Array<{ writer: string; batch: number; count: number; shard: string }> = [];
    const failures: string[] = [];
    const writer = async (g: GatewayProcess, name: string): Promise<void> => {
      for (let batch = 0; moving; batch++) {
        const count = 50 + (batch % 7) * 10;
        const answer = await ingest(g, family, schema, events(name, batch, count), { 'idempotency-key': `${name}-${batch}` });
        if (answer.status === 200) acknowledged.push({ writer: name, batch, count, shard: answer.body.shard as string });
        else failures.push(`${name}/${batch}: ${answer.status} ${JSON.stringify(answer.body)}`);
      }
    };
    let queries = 0;
    let lastCount = 0;
    const reader = async (): Promise<void> => {
      while (moving) {
        // Light queries (a full COUNT(DISTINCT) would take seconds here): rows only ever grow, the last batch is whole.
        const answer = await query(b, `SELECT COUNT(*) AS n, (SELECT COUNT(*) FROM ${family} WHERE writer = 'preload' AND batch = 7) AS d FROM ${family}`);
        if (answer.status !== 200) {
          failures.push(`query: ${answer.status} ${JSON.stringify(answer.body)}`);
          continue;
        }
        const [{ n, d }] = answer.body.results as [{ n: number; d: number }];
        // Complete data all along: never fewer rows than before, a preloaded batch always whole (exactly once is checked on the shards below).
        if (n < lastCount || d !== 1000) failures.push(`query saw ${n} rows after ${lastCount}, ${d} rows of preload batch 7`);
        lastCount = n;
        queries++;
      }
    };
    const load = Promise.all([writer(a, 'a'), writer(b, 'b'), reader()]);
    await new Promise((resolve) => setTimeout(resolve, 300));
    const started = await api(a, 'POST', `/api/families/${family}/move`, { to });
    expect(started.status).toBe(202);
    const done = await waitForMove(b, family, ['done', 'failed', 'cancelled'], 150_000);
    // Keep the load on a little past the switch.
    await new Promise((resolve) => setTimeout(resolve, 500));
    moving = false;
    await load;
    expect({ state: done.state, error: done.error, failures }).toEqual({ state: 'done', error: null, failures: [] });
    expect(queries).toBeGreaterThan(3);
    const afterSwitch = acknowledged.filter((x) => x.shard === to);
    expect(afterSwitch.length).toBeGreaterThan(0);
    expect(acknowledged.some((x) => x.shard === home)).toBe(true);

    // On the shards: every acknowledged event exactly once on the target, typed row and raw copy; nothing on the source.
    const target = specNamed(shards, to);
    const source = specNamed(shards, home);
    const rows = await onDb<{ writer: string; batch: number; n: number; d: number; raws: number }>(
      target,
      `SELECT writer, batch, COUNT(*) AS n, COUNT(DISTINCT seq) AS d, SUM(_raw IS NOT NULL AND JSON_VALUE(_raw, '$.seq') = seq) AS raws FROM \`${family}\` GROUP BY writer, batch`,
    );
    const stored = new Map(rows.map((r) => [`${r.writer}/${r.batch}`, r]));
    const expected = new Map<string, number>();
    for (let i = 0; i < preloaded / 1000; i++) expected.set(`preload/${i}`, 1000);
    for (const x of acknowledged) expected.set(`${x.writer}/${x.batch}`, x.count);
    for (const [key, count] of expected) {
      const row = stored.get(key);
      expect({ key, n: Number(row?.n ?? 0), d: Number(row?.d ?? 0), raws: Number(row?.raws ?? 0) }).toEqual({ key, n: count, d: count, raws: count });
    }
    // Nothing stored that was not acknowledged (every write answered 200, so none).
    expect([...stored.keys()].filter((k) => !expected.has(k))).toEqual([]);
    const [{ total }] = (await onDb<{ total: number }>(target, `SELECT COUNT(*) AS total FROM \`${family}\``)) as [{ total: number }];
    expect(Number(total)).toBe([...expected.values()].reduce((x, y) => x + y, 0));
    const [{ raw }] = (await onDb<{ raw: number }>(target, 'SELECT COUNT(*) AS raw FROM raw_logs WHERE family = ?', [family])) as [{ raw: number }];
    expect(Number(raw)).toBe(Number(total));
    expect(await tableExists(source, family, DATABASE)).toBe(false);
    expect(await onDb(source, `SELECT TABLE_NAME FROM information_schema.TABLES WHERE TABLE_SCHEMA = '${DATABASE}' AND TABLE_NAME REGEXP '^databalancer_moved?_[0-9a-f]{16}$'`)).toEqual([]);
    expect(await onDb(source, 'SELECT COUNT(*) AS n FROM raw_logs WHERE family = ?', [family])).toEqual([{ n: 0 }]);
    expect(await onDb(source, 'SELECT COUNT(*) AS n FROM databalancer_idempotency WHERE family = ?', [family])).toEqual([{ n: 0 }]);
    const keys = await onDb<{ n: number }>(target, 'SELECT COUNT(*) AS n FROM databalancer_idempotency WHERE family = ?', [family]);
    expect(Number(keys[0]?.n)).toBe(acknowledged.length);
  });

  it('is resumed by another process when the one driving it is killed', { timeout: 240_000 }, async () => {
    const family = uniqueFamily('mv_killed');
    await preload(b, family, 40_000);
    const home = (await ingest(b, family, schema, [])).body.shard as string;
    const to = shards.map((s) => s.name).find((n) => n !== home) as string;
    // A slow mover, killed mid-copy.
    const slow = await spawnGateway(shards, ['--move_lease_seconds=3', '--move_rows_per_second=4000', '--move_batch_rows=1000'], DATABASE);
    onTestFinished(() => slow.kill());
    const started = await api(slow, 'POST', `/api/families/${family}/move`, { to });
    expect(started.status).toBe(202);
    const deadline = Date.now() + 60_000;
    for (;;) {
      const status = await api(b, 'GET', `/api/families/${family}/move`);
      if (Number(status.body.copiedRows) >= 2000) break;
      if (Date.now() > deadline || status.body.state === "failed") throw new Error(`the slow move did not progress: ${JSON.stringify(status.body)} ${slow.output().slice(0, 3000)}`);
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    await slow.kill();
    const killedAt = (await api(b, 'GET', `/api/families/${family}/move`)).body;
    expect(['copying', 'catching_up']).toContain(killedAt.state);
    expect(Number(killedAt.copiedRows)).toBeLessThan(40_000);
    // Ingest goes on meanwhile, on the source.
    expect((await ingest(b, family, schema, events('during', 0, 100))).body.shard).toBe(home);
    const done = await waitForMove(b, family, ['done', 'failed']);
    expect(done).toMatchObject({ state: 'done', moveId: started.body.moveId, error: null });
    expect((await ingest(a, family, schema, events('after', 0, 100))).body.shard).toBe(to);
    const target = specNamed(shards, to);
    const [{ n, d }] = (await onDb<{ n: number; d: number }>(target, `SELECT COUNT(*) AS n, COUNT(DISTINCT id) AS d FROM \`${family}\``)) as [{ n: number; d: number }];
    expect([Number(n), Number(d)]).toEqual([40_200, 40_200]);
    expect(await tableExists(specNamed(shards, home), family, DATABASE)).toBe(false);
  });
});

describe('a target shard killed mid-copy', () => {
  let cluster: Cluster;
  let gateway: TestGateway;
  beforeAll(async () => {
    cluster = await startCluster({ count: 2, names: ['mv_src', 'mv_dst'] });
    gateway = await startGateway(cluster.servers, ['--move_rows_per_second=3000', '--move_batch_rows=500', '--write_timeout_ms=5000'], { database: 'databalancer' });
  }, 120_000);
  afterAll(async () => {
    await gateway?.close();
    await cluster?.stop();
  });

  it('fails the move; the family stays on its source and keeps working', { timeout: 180_000 }, async () => {
    const family = uniqueFamily('mv_target_down');
    // Place it on mv_src: the ring decides, so pick a name that lands there.
    let name = family;
    for (let i = 0; ; i++) {
      name = `${family}_${i}`;
      const answer = await ingest(gateway, name, schema, []);
      if (answer.body.shard === 'mv_src') break;
    }
    await preload(gateway, name, 20_000);
    const started = await api(gateway, 'POST', `/api/families/${name}/move`, { to: 'mv_dst' });
    expect(started.status).toBe(202);
    for (;;) {
      const status = await api(gateway, 'GET', `/api/families/${name}/move`);
      if (Number(status.body.copiedRows) >= 1000) break;
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    await stopServer(specNamed(cluster.servers, 'mv_dst'));
    const failed = await waitForMove(gateway, name, ['failed', 'done'], 120_000);
    expect(failed.state).toBe('failed');
    expect(String(failed.error)).toMatch(/mv_dst/);
    // The family is where it was, whole, and takes events.
    const more = await ingest(gateway, name, schema, events('after', 0, 10));
    expect(more.status).toBe(200);
    expect(more.body.shard).toBe('mv_src');
    expect((await query(gateway, `SELECT COUNT(*) AS n FROM ${name}`)).body.results).toEqual([{ n: 20_010 }]);
    expect((await api(gateway, 'GET', '/api/describe')).body.tables.find((t: { name: string }) => t.name === name).shard).toBe('mv_src');
    // A new move can be asked for (and is refused only because the target is down).
    const again = await api(gateway, 'POST', `/api/families/${name}/move`, { to: 'mv_dst' });
    expect(again.status).toBe(503);
    expect(again.body.error.code).toBe('SHARD_UNAVAILABLE');
  });
});
