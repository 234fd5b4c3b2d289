/**
 * The ingest write path sends a whole transaction in one round trip on a
 * multi-statement session. A statement that fails in the middle must leave
 * nothing behind, and the pooled connection must stay usable.
 */
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { writeInTransaction } from '../../src/services/ingest-service.js';
import { onShard, startGateway, uniqueFamily, type TestGateway } from './helpers/gateway.js';

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
      writeInTransaction(pool.ingest, [`INSERT INTO \`${table}\` VALUES (1)`, `INSERT INTO \`${table}\` VALUES (2)`, `INSERT INTO \`${table}\` VALUES (1)`]),
    ).rejects.toMatchObject({ code: 'ER_DUP_ENTRY' });
    expect(await onShard(shards[1]!, `SELECT COUNT(*) AS n FROM \`${table}\``)).toEqual([{ n: 0 }]);
    // Same (only) pooled connection: no transaction left open, the next write commits.
    await writeInTransaction(pool.ingest, [`INSERT INTO \`${table}\` VALUES (3)`]);
    expect(await onShard(shards[1]!, `SELECT id FROM \`${table}\``)).toEqual([{ id: 3 }]);
    await onShard(shards[1]!, `DROP TABLE \`${table}\``);
  });
});
