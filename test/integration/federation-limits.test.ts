/**
 * Limits of cross-shard queries, on a private two-server cluster (fl_a holds
 * the catalog and is the target of every federated query here; fl_b is the
 * other shard). A test connection holds `LOCK TABLES raw_logs WRITE` on fl_a
 * to stall the local copy of raw_logs that federation makes there, so each
 * test controls exactly when a query is stuck in staging:
 * - query_timeout_ms bounds the whole request, staging included, and the
 *   stuck statement is killed on the server;
 * - a client that goes away cancels its query the same way;
 * - federation_max_concurrent: past it, 503 GATEWAY_BUSY with Retry-After;
 * - the catalog has its own pool, so staging that holds every writer
 *   connection of its shard does not stop placements; a pool timeout on the
 *   cross-shard path is 503 pool_timeout;
 * - the row budget covers the local raw_logs copy too;
 * - a statement or connection killed on the target names the target.
 */
import { request } from 'node:http';
import mysql from 'mysql2/promise';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startCluster, type Cluster, type ServerSpec } from '../../scripts/lib/mariadb-cluster.js';
import { HashRing } from '../../src/shards/ring.js';
import { api, connectShard, familiesOnShards, ingest, onShard, specNamed, startGateway, uniqueFamily, type TestGateway } from './helpers/gateway.js';

let cluster: Cluster;
let target: ServerSpec;
let other: ServerSpec;
/** shard name -> a family living there. */
let homes: Map<string, string>;
const gateways: TestGateway[] = [];

const RAW_COUNT = 'SELECT COUNT(*) AS c FROM raw_logs';
/** The text of the local raw_logs copy federation runs on the target (federate.ts). */
const LOCAL_COPY = 'INSERT INTO databalancer_staged_raw_logs%';

async function gateway(flags: string[]): Promise<TestGateway> {
  const started = await startGateway(cluster.servers, flags);
  gateways.push(started);
  // Bootstrap both shards now: the bootstrap's CREATE TABLE IF NOT EXISTS raw_logs would wait for the tests' lock.
  const warm = await query(started, RAW_COUNT);
  if (warm.status >= 500) throw new Error(`warm-up query failed: ${JSON.stringify(warm.body)}`);
  return started;
}

/** POST /api/query that gives up after 20 s (a gateway that hangs fails the test instead of stalling it). */
async function query(g: { url: string }, sql: string, signal: AbortSignal = AbortSignal.timeout(20_000)): Promise<{ status: number; body: any; headers: Headers }> {
  const response = await fetch(`${g.url}/api/query`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ query: sql }),
    signal,
  });
  return { status: response.status, body: await response.json(), headers: response.headers };
}

/** Thread ids on `spec` running a statement whose text is LIKE `pattern`. */
async function running(spec: ServerSpec, pattern: string): Promise<number[]> {
  const rows = await onShard<{ id: number }>(
    spec,
    'SELECT ID AS id FROM information_schema.PROCESSLIST WHERE INFO LIKE ? AND ID <> CONNECTION_ID()',
    [pattern],
    null,
  );
  return rows.map((r) => Number(r.id));
}

/** Polls until `check` is true, at most `tries` times 100 ms apart; returns its last answer. */
async function eventually(check: () => Promise<boolean>, tries = 100): Promise<boolean> {
  for (let i = 0; i < tries; i++) {
    if (await check()) return true;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  return false;
}

/** Runs `body` while a test connection holds `LOCK TABLES <table> WRITE` on `spec`. */
async function whileLocked<T>(spec: ServerSpec, table: string, body: () => Promise<T>): Promise<T> {
  const lock: mysql.Connection = await connectShard(spec);
  try {
    await lock.query(`LOCK TABLES \`${table}\` WRITE`);
    return await body();
  } finally {
    await lock.query('UNLOCK TABLES').catch(() => undefined);
    await lock.end().catch(() => undefined);
  }
}

/** Starts a raw_logs count and waits until its local copy is stuck on the lock; returns the pending answer. */
async function stuckRawCount(g: { url: string }): Promise<{ answer: Promise<{ status: number; body: any; headers: Headers }> }> {
  const before = new Set(await running(target, LOCAL_COPY));
  const answer = query(g, RAW_COUNT, AbortSignal.timeout(40_000));
  answer.catch(() => undefined);
  const stuck = await eventually(async () => (await running(target, LOCAL_COPY)).some((id) => !before.has(id)));
  expect(stuck, 'the local raw_logs copy should be waiting for the lock').toBe(true);
  // Wrapped: an async function returning the promise itself would wait for it.
  return { answer };
}

async function rawLogsTotal(): Promise<number> {
  const counts = await Promise.all(cluster.servers.map((s) => onShard<{ c: number }>(s, RAW_COUNT)));
  return counts.reduce((sum, rows) => sum + Number(rows[0]?.c ?? 0), 0);
}

beforeAll(async () => {
  cluster = await startCluster({ count: 2, names: ['fl_a', 'fl_b'] });
  target = specNamed(cluster.servers, 'fl_a');
  other = specNamed(cluster.servers, 'fl_b');
  const first = await gateway([]);
  homes = await familiesOnShards(first, ['fl_a', 'fl_b'], 'flim');
});
afterAll(async () => {
  for (const g of gateways) await g.close().catch(() => undefined);
  await cluster?.stop();
});

describe('cross-shard query limits', () => {
  it('query_timeout_ms bounds the staging too: 504 QUERY_TIMEOUT, and the stuck copy is killed on the target', async () => {
    const g = await gateway(['--query_timeout_ms=1500']);
    await whileLocked(target, 'raw_logs', async () => {
      const answer = await query(g, RAW_COUNT);
      expect(answer.status).toBe(504);
      expect(answer.body.error.code).toBe('QUERY_TIMEOUT');
      expect(answer.body.error.message).toMatch(/query_timeout_ms/);
      // Still locked: only a KILL can have ended the copy.
      expect(await eventually(async () => (await running(target, LOCAL_COPY)).length === 0, 50)).toBe(true);
    });
    const after = await query(g, RAW_COUNT);
    expect(after.status).toBe(200);
    expect(after.body.results).toEqual([{ c: await rawLogsTotal() }]);
  });

  it('a client that disconnects cancels its query: the stuck copy is killed', async () => {
    const g = await gateway(['--query_timeout_ms=60000']);
    await whileLocked(target, 'raw_logs', async () => {
      const before = new Set(await running(target, LOCAL_COPY));
      // A raw HTTP client whose socket is destroyed while it waits for the answer.
      const { hostname, port } = new URL(g.url);
      const body = JSON.stringify({ query: RAW_COUNT });
      const client = request({ host: hostname, port, method: 'POST', path: '/api/query', headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) } });
      client.on('error', () => undefined);
      client.end(body);
      expect(await eventually(async () => (await running(target, LOCAL_COPY)).some((id) => !before.has(id)))).toBe(true);
      client.destroy();
      expect(await eventually(async () => (await running(target, LOCAL_COPY)).length === 0, 50)).toBe(true);
    });
    expect((await query(g, RAW_COUNT)).status).toBe(200);
  });

  it('past federation_max_concurrent, a cross-shard query gets 503 GATEWAY_BUSY with Retry-After; single-shard ones still run', async () => {
    const g = await gateway(['--query_timeout_ms=60000', '--federation_max_concurrent=1']);
    const [a, b] = [homes.get('fl_a') as string, homes.get('fl_b') as string];
    const { first } = await whileLocked(target, 'raw_logs', async () => {
      const pending = (await stuckRawCount(g)).answer;
      const busy = await query(g, `SELECT COUNT(*) AS c FROM ${a} x JOIN ${b} y ON x.n = y.n`);
      expect(busy.status).toBe(503);
      expect(busy.body.error.code).toBe('GATEWAY_BUSY');
      expect(busy.body.error.message).toMatch(/federation_max_concurrent/);
      expect(Number(busy.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
      const single = await query(g, `SELECT COUNT(*) AS c FROM ${b}`);
      expect(single.status).toBe(200);
      return { first: pending };
    });
    expect((await first).status).toBe(200);
    // The slot is free again.
    expect((await query(g, `SELECT COUNT(*) AS c FROM ${a} x JOIN ${b} y ON x.n = y.n`)).status).toBe(200);
  });

  it('the catalog has its own pool: staging that holds every writer connection of the catalog shard does not stop placements; a pool timeout is 503 pool_timeout', async () => {
    const g = await gateway(['--query_timeout_ms=60000', '--pool_max=1', '--federation_max_concurrent=2']);
    const [a, b] = [homes.get('fl_a') as string, homes.get('fl_b') as string];
    const ring = new HashRing(['fl_a', 'fl_b']);
    let fresh = uniqueFamily('flnew');
    while (ring.shardFor(fresh) !== 'fl_b') fresh = uniqueFamily('flnew');
    const { first } = await whileLocked(target, 'raw_logs', async () => {
      const pending = (await stuckRawCount(g)).answer;
      // A new family: placement and schema in the catalog (on fl_a), table and rows on fl_b.
      const placed = await ingest(g, fresh, { n: 'int' }, [{ n: 1 }]);
      expect(placed.status).toBe(200);
      expect(placed.body.shard).toBe('fl_b');
      const ready = await api(g, 'GET', '/readyz');
      expect(ready.body.catalog).toMatchObject({ reachable: true });
      // fl_a's only writer connection is taken: a second cross-shard query waits for it, then 503.
      const waiting = await query(g, `SELECT COUNT(*) AS c FROM ${a} x JOIN ${b} y ON x.n = y.n`, AbortSignal.timeout(40_000));
      expect(waiting.status).toBe(503);
      expect(waiting.body.error).toMatchObject({ code: 'SHARD_UNAVAILABLE', shard: 'fl_a', reason: 'pool_timeout' });
      return { first: pending };
    });
    expect((await first).status).toBe(200);
  });

  it('the row budget covers the local raw_logs copy: past federation_max_rows, 400 QUERY_TOO_LARGE', async () => {
    const g = await gateway([]);
    const a = homes.get('fl_a') as string;
    expect((await ingest(g, a, { n: 'int' }, Array.from({ length: 30 }, (_, i) => ({ n: i })))).status).toBe(200);
    const [local] = await onShard<{ c: number }>(target, RAW_COUNT);
    const [remote] = await onShard<{ c: number }>(other, RAW_COUNT);
    // Enough for the remote rows, not for the target's own.
    const limit = Number(remote?.c) + 1;
    expect(Number(local?.c)).toBeGreaterThan(limit);
    const tight = await gateway([`--federation_max_rows=${limit}`]);
    const answer = await query(tight, RAW_COUNT);
    expect(answer.status).toBe(400);
    expect(answer.body.error).toMatchObject({ code: 'QUERY_TOO_LARGE', limit });
    const roomy = await gateway([`--federation_max_rows=${Number(local?.c) + Number(remote?.c)}`]);
    expect((await query(roomy, RAW_COUNT)).body.results).toEqual([{ c: Number(local?.c) + Number(remote?.c) }]);
  });

  it('a staging statement killed on the target is reported as the target, not as a source', async () => {
    const g = await gateway(['--query_timeout_ms=60000']);
    await whileLocked(target, 'raw_logs', async () => {
      const pending = (await stuckRawCount(g)).answer;
      for (const id of await running(target, LOCAL_COPY)) await onShard(target, `KILL QUERY ${id}`, [], null);
      const answer = await pending;
      expect(answer.status).toBe(503);
      expect(answer.body.error).toMatchObject({ code: 'SHARD_UNAVAILABLE', shard: 'fl_a', reason: 'statement_killed' });
    });
    expect((await query(g, RAW_COUNT)).status).toBe(200);
  });

  it("the target's staging session killed while a source is read is reported as the target", async () => {
    const g = await gateway(['--query_timeout_ms=60000']);
    const [a, b] = [homes.get('fl_a') as string, homes.get('fl_b') as string];
    const join = `SELECT COUNT(*) AS c FROM ${a} x JOIN ${b} y ON x.n = y.n`;
    const { pending } = await whileLocked(other, b, async () => {
      const answer = query(g, join);
      answer.catch(() => undefined);
      // The source read of b waits for the lock on fl_b; the target session on fl_a is idle meanwhile.
      const pattern = `SELECT % FROM \`${b}\`%`;
      expect(await eventually(async () => (await running(other, pattern)).length > 0)).toBe(true);
      const sessions = await onShard<{ id: number }>(target, "SELECT ID AS id FROM information_schema.PROCESSLIST WHERE USER = 'root' AND ID <> CONNECTION_ID()", [], null);
      for (const { id } of sessions) await onShard(target, `KILL ${id}`, [], null).catch(() => undefined);
      // Unlocked on return: the source answers, and writing its rows to the target fails.
      return { pending: answer };
    });
    const answer = await pending;
    expect(answer.status, JSON.stringify(answer.body)).toBe(503);
    expect(answer.body.error).toMatchObject({ code: 'SHARD_UNAVAILABLE', shard: 'fl_a' });
    expect((await query(g, join)).status).toBe(200);
  });
});
