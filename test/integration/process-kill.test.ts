/**
 * A gateway process killed (SIGKILL) in the middle of a stream of ingest
 * requests loses no acknowledged event, and a client that retries its
 * unacknowledged requests with the same Idempotency-Key against another
 * gateway ends with every event stored exactly once.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, inject, it, onTestFinished } from 'vitest';
import { freePort, ingest, onShard, shardsFlag, specNamed, startGateway, uniqueFamily, type TestGateway } from './helpers/gateway.js';

const shards = inject('shards');
let survivor: TestGateway;

beforeAll(async () => {
  survivor = await startGateway(shards);
});
afterAll(async () => {
  await survivor.close();
});

async function spawnGateway(): Promise<{ child: ChildProcess; url: string }> {
  const port = await freePort();
  let output = '';
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/main.ts', `--shards=${shardsFlag(shards)}`, `--server_address=127.0.0.1:${port}`], {
    cwd: process.cwd(),
    env: { ...process.env, LOG_LEVEL: 'warn' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  child.stdout?.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr?.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const url = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 30_000;
  for (;;) {
    try {
      if ((await fetch(`${url}/healthz`)).ok) return { child, url };
    } catch {
      // not listening yet
    }
    if (child.exitCode !== null || Date.now() > deadline) throw new Error(`gateway did not start: ${output}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

describe('a gateway process killed mid-stream', () => {
  it('loses no acknowledged event; idempotent retries elsewhere store the rest exactly once', async () => {
    const family = uniqueFamily('killed');
    const schema = { batch: 'int', seq: 'int', note: 'string' };
    const batches = 300;
    const perBatch = 100;
    const body = (b: number) => Array.from({ length: perBatch }, (_, i) => ({ batch: b, seq: i, note: `b${b}e${i}` }));
    // Create the family first so every batch below is a plain write.
    expect((await ingest(survivor, family, schema, [])).status).toBe(200);

    const { child, url } = await spawnGateway();
    // Killed below; this also covers an assertion failing before that.
    onTestFinished(() => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    });
    const acknowledged = new Set<number>();
    let next = 0;
    // Four clients stream batches; the process is killed while they run.
    const client = async (): Promise<void> => {
      for (;;) {
        const b = next++;
        if (b >= batches) return;
        try {
          const answer = await ingest({ url }, family, schema, body(b), { 'idempotency-key': `batch-${b}` });
          if (answer.status === 200) acknowledged.add(b);
        } catch {
          return; // connection refused or reset: the process is gone
        }
      }
    };
    const clients = Promise.all([client(), client(), client(), client()]);
    while (acknowledged.size < 10) await new Promise((resolve) => setTimeout(resolve, 5));
    child.kill('SIGKILL');
    await clients;
    expect(acknowledged.size).toBeGreaterThan(0);
    expect(acknowledged.size).toBeLessThan(batches);

    const home = specNamed(shards, String((await ingest(survivor, family, schema, [])).body.shard));
    // Every acknowledged batch is there in full, before any retry.
    const stored = await onShard<{ batch: number; n: number }>(home, `SELECT batch, COUNT(*) AS n FROM \`${family}\` GROUP BY batch`);
    const counts = new Map(stored.map((r) => [Number(r.batch), Number(r.n)]));
    for (const b of acknowledged) expect(counts.get(b), `batch ${b}`).toBe(perBatch);
    // Nothing half-written: a batch is all there or not there.
    for (const n of counts.values()) expect(n).toBe(perBatch);

    // The client retries everything it sent, with the same keys, on the surviving gateway.
    for (let b = 0; b < batches; b++) {
      const answer = await ingest(survivor, family, schema, body(b), { 'idempotency-key': `batch-${b}` });
      expect(answer.status).toBe(200);
      if (acknowledged.has(b)) expect(answer.body.replayed).toBe(true);
    }
    const final = await onShard<{ rows: number; batches: number }>(
      home,
      `SELECT COUNT(*) AS \`rows\`, COUNT(DISTINCT batch) AS batches FROM \`${family}\``,
    );
    expect(final).toEqual([{ rows: batches * perBatch, batches }]);
    const raw = await onShard<{ n: number }>(home, 'SELECT COUNT(*) AS n FROM raw_logs WHERE family = ?', [family]);
    expect(raw).toEqual([{ n: batches * perBatch }]);
  });
});
