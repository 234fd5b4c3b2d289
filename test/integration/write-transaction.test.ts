/**
 * The ingest write path sends a whole transaction in one round trip on a
 * multi-statement session. A statement that fails in the middle must leave
 * nothing behind, and the pooled connection must stay usable.
 */
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { statementOf, writeInTransaction } from '../../src/shards/write-transaction.js';
import { ingest, onShard, startGateway, uniqueFamily, type TestGateway } from './helpers/gateway.js';

const shards = inject('shards');
let gateway: TestGateway;

beforeAll(async () => {
  gateway = await startGateway(shards, ['--pool_max=1']);
});
afterAll(async () => {
  await gateway.close();
});

describe('writeInTransaction', () => {
  it('rolls back every statement when a later one fails, and the connection keeps working', async () => {
    const table = uniqueFamily('txn');
    const pool = gateway.app.manager.pool('shard_b');
    await pool.ready();
    await onShard(shards[1]!, `CREATE TABLE \`${table}\` (id INT PRIMARY KEY)`);
    await expect(
      writeInTransaction(pool.ingest, [`INSERT INTO \`${table}\` VALUES (1)`, `INSERT INTO \`${table}\` VALUES (2)`, `INSERT INTO \`${table}\` VALUES (1)`].map(statementOf)),
    ).rejects.toMatchObject({ code: 'ER_DUP_ENTRY' });
    expect(await onShard(shards[1]!, `SELECT COUNT(*) AS n FROM \`${table}\``)).toEqual([{ n: 0 }]);
    // Same (only) pooled connection: no transaction left open, the next write commits.
    await writeInTransaction(pool.ingest, [statementOf(`INSERT INTO \`${table}\` VALUES (3)`)]);
    expect(await onShard(shards[1]!, `SELECT id FROM \`${table}\``)).toEqual([{ id: 3 }]);
    await onShard(shards[1]!, `DROP TABLE \`${table}\``);
  });
});

describe('large requests', () => {
  it('a body just under --body_limit_bytes is written whole, though its SQL is larger than the server max_allowed_packet', async () => {
    // 250 events of ~60 KB: a 15 MB body under the 16 MiB default limit, whose
    // typed rows plus raw_logs copies make about 30 MB of SQL, more than the
    // 16 MiB max_allowed_packet of MariaDB 10.11 takes in one packet.
    const family = uniqueFamily('big');
    const text = 'x'.repeat(60_000);
    const logs = Array.from({ length: 250 }, (_, i) => ({ i, text: `${i}:${text}` }));
    const answer = await ingest(gateway, family, { i: 'int', text: 'string' }, logs);
    expect(answer.status, JSON.stringify(answer.body).slice(0, 500)).toBe(200);
    const shard = shards.find((s) => s.name === answer.body.shard)!;
    expect(await onShard(shard, `SELECT COUNT(*) AS n, SUM(LENGTH(text)) AS bytes FROM \`${family}\``)).toEqual([
      { n: 250, bytes: String(logs.reduce((sum, e) => sum + e.text.length, 0)) },
    ]);
    expect(await onShard(shard, `SELECT COUNT(*) AS n FROM raw_logs WHERE family = '${family}'`)).toEqual([{ n: 250 }]);
  });
});

describe('an event larger than the server takes', () => {
  it('is refused with 413 PAYLOAD_TOO_LARGE naming max_allowed_packet, writes nothing, and the pool keeps working', async () => {
    const roomy = await startGateway(shards, ['--body_limit_bytes=40000000', '--pool_max=1']);
    try {
      const family = uniqueFamily('huge');
      const small = await ingest(roomy, family, { doc: 'json' }, [{ doc: { n: 1 } }]);
      expect(small.status).toBe(200);
      const answer = await ingest(roomy, family, { doc: 'json' }, [{ doc: { n: 2 } }, { doc: { blob: 'y'.repeat(20_000_000) } }]);
      expect(answer.status, JSON.stringify(answer.body).slice(0, 500)).toBe(413);
      const error = answer.body.error as Record<string, unknown>;
      expect(error.code).toBe('PAYLOAD_TOO_LARGE');
      expect(String(error.message)).toMatch(/max_allowed_packet/);
      const shard = shards.find((s) => s.name === small.body.shard)!;
      expect(await onShard(shard, `SELECT COUNT(*) AS n FROM \`${family}\``)).toEqual([{ n: 1 }]);
      expect((await ingest(roomy, family, { doc: 'json' }, [{ doc: { n: 3 } }])).status).toBe(200);
      expect(await onShard(shard, `SELECT COUNT(*) AS n FROM \`${family}\``)).toEqual([{ n: 2 }]);
    } finally {
      await roomy.close();
    }
  });
});
