/**
 * Statelessness: several gateways (in-process and a real separate process)
 * against the same shards ingest the same brand-new family at the same moment,
 * each request with new fields of its own. Every request succeeds, every row
 * is stored and every column is present.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { api, freePort, holdersOf, ingest, onShard, query, shardsFlag, snapshotFamily, specNamed, startGateway, uniqueFamily, type TestGateway } from './helpers/gateway.js';

const shards = inject('shards');
let first: TestGateway;
let second: TestGateway;
let child: ChildProcess | undefined;
let childGateway: { url: string };
let childOutput = '';

async function waitHealthy(url: string, ms: number): Promise<void> {
  const deadline = Date.now() + ms;
  for (;;) {
    try {
      const response = await fetch(`${url}/healthz`);
      if (response.status === 200) return;
    } catch {
      // not listening yet
    }
    if (child?.exitCode !== null && child?.exitCode !== undefined) throw new Error(`gateway process exited ${child.exitCode}: ${childOutput}`);
    if (Date.now() > deadline) throw new Error(`gateway process not healthy after ${ms} ms: ${childOutput}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

beforeAll(async () => {
  const port = await freePort();
  child = spawn(process.execPath, ['--import', 'tsx', 'src/main.ts', `--shards=${shardsFlag(shards)}`, `--server_address=127.0.0.1:${port}`], {
    cwd: process.cwd(),
    env: { ...process.env, LOG_LEVEL: 'warn' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  child.stdout?.on('data', (chunk: Buffer) => (childOutput += chunk.toString()));
  child.stderr?.on('data', (chunk: Buffer) => (childOutput += chunk.toString()));
  childGateway = { url: `http://127.0.0.1:${port}` };
  [first, second] = await Promise.all([startGateway(shards), startGateway(shards)]);
  await waitHealthy(childGateway.url, 30_000);
});
afterAll(async () => {
  await Promise.all([first?.close(), second?.close()]);
  if (child !== undefined && child.exitCode === null) {
    const exited = new Promise((resolve) => child?.once('exit', resolve));
    child.kill('SIGTERM');
    await exited;
  }
});

/**
 * One round: `gateways[i % n]` sends request i for the same new family, all at
 * once; request i declares `common` plus a field `f<i>` of its own (and every
 * other request also re-declares `shared`, added concurrently by all).
 */
async function round(gateways: Array<{ url: string }>, requests: number, eventsPerRequest: number): Promise<void> {
  const family = uniqueFamily('race');
  const answers = await Promise.all(
    Array.from({ length: requests }, (_, i) => {
      const schema: Record<string, string> = { common: 'int', [`f${i}`]: i % 2 === 0 ? 'string' : 'float', shared: 'string' };
      const logs = Array.from({ length: eventsPerRequest }, (_, j) => ({ common: i * 1000 + j, [`f${i}`]: i % 2 === 0 ? `r${i}e${j}` : i + j / 10, shared: `s${i}` }));
      return ingest(gateways[i % gateways.length] as { url: string }, family, schema, logs);
    }),
  );
  for (const answer of answers) {
    expect(answer.status, JSON.stringify(answer.body)).toBe(200);
    expect(answer.body.ingested).toBe(eventsPerRequest);
  }
  expect(new Set(answers.map((a) => a.body.shard)).size).toBe(1);
  const home = answers[0]?.body.shard as string;
  expect(await holdersOf(shards, family)).toEqual([home]);

  const snapshot = await snapshotFamily(shards, family);
  expect(snapshot.placements).toEqual([home]);
  expect(snapshot.rows[home]).toBe(requests * eventsPerRequest);
  expect(snapshot.rawLogs[home]).toBe(requests * eventsPerRequest);
  const expectedColumns = ['common', 'shared', ...Array.from({ length: requests }, (_, i) => `f${i}`)];
  expect(new Set(snapshot.columns[home]?.filter((c) => c !== 'id' && c !== '_ingested_at' && c !== '_raw'))).toEqual(new Set(expectedColumns));
  expect(new Set(snapshot.declared.map((d) => d.split(':')[0]))).toEqual(new Set(expectedColumns));

  // Every gateway sees every row and column, including the ones the others added.
  for (const gateway of gateways) {
    const answer = await query(gateway, `SELECT common, shared, f0, f${requests - 1} FROM ${family} ORDER BY common`);
    expect(answer.status).toBe(200);
    expect(answer.body.results).toHaveLength(requests * eventsPerRequest);
    expect(answer.body.results[0]).toEqual({ common: 0, shared: 's0', f0: 'r0e0', [`f${requests - 1}`]: null });
  }
  const direct = await onShard<{ n: number }>(specNamed(shards, home), `SELECT COUNT(DISTINCT common) AS n FROM \`${family}\``);
  expect(direct[0]?.n).toBe(requests * eventsPerRequest);
}

describe('several gateways at once', () => {
  it('two in-process gateways race on brand-new families for several rounds', async () => {
    for (let r = 0; r < 3; r++) await round([first, second], 6, 5);
  });

  it('a separate gateway process and an in-process one race on brand-new families', async () => {
    for (let r = 0; r < 2; r++) await round([childGateway, first], 6, 5);
  });

  it('three gateways (one a separate process) race on one brand-new family', async () => {
    await round([childGateway, first, second], 9, 3);
  });

  it('the separate process serves describe and sees families created by others', async () => {
    const family = uniqueFamily('seen');
    expect((await ingest(first, family, { v: 'int' }, [{ v: 1 }])).status).toBe(200);
    const described = await api(childGateway, 'GET', '/api/describe');
    expect(described.status).toBe(200);
    expect(described.body.tables.map((t: { name: string }) => t.name)).toContain(family);
    const answer = await ingest(childGateway, family, { v: 'int', w: 'string' }, [{ v: 2, w: 'x' }]);
    expect(answer.status).toBe(200);
    const rows = await query(second, `SELECT v, w FROM ${family} ORDER BY v`);
    expect(rows.body.results).toEqual([{ v: 1, w: null }, { v: 2, w: 'x' }]);
  });
});
