/**
 * A purge batch walks the primary key in numeric order: the batch takes the
 * lowest ids, and the next batch starts after the highest of them. (It once
 * ordered by the text alias of id, '10' before '2', so each batch took a
 * scattered set and the walk relied on its final sweep.)
 */
import knex from 'knex';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { deletePurgeBatch } from '../../src/shards/purge-batch.js';
import { ingest, onShard, specNamed, startGateway, TEST_DATABASE, uniqueFamily, type TestGateway } from './helpers/gateway.js';

const shards = inject('shards');
let gateway: TestGateway;

beforeAll(async () => {
  gateway = await startGateway(shards);
});
afterAll(async () => {
  await gateway.close();
});

describe('deletePurgeBatch', () => {
  it('deletes the lowest ids first and reports the highest as the position', async () => {
    const family = uniqueFamily('purge_order');
    const answer = await ingest(gateway, family, { n: 'int' }, Array.from({ length: 12 }, (_, i) => ({ n: i + 1 })));
    expect(answer.status).toBe(200);
    const spec = specNamed(shards, answer.body.shard as string);
    const db = knex({ client: 'mysql2', connection: { host: spec.host, port: spec.port, user: 'root', password: '', database: TEST_DATABASE } });
    try {
      const batch = { family, cutoffSql: '2100-01-01 00:00:00.000000', batchSize: 5 };
      const first = await deletePurgeBatch(db, { ...batch, afterId: '0' });
      expect(first).toMatchObject({ deleted: 5, lastId: '5', last: false });
      const left = await onShard<{ id: number }>(spec, `SELECT id FROM \`${family}\` ORDER BY id`);
      expect(left.map((row) => Number(row.id))).toEqual([6, 7, 8, 9, 10, 11, 12]);
      const second = await deletePurgeBatch(db, { ...batch, afterId: first.lastId });
      expect(second).toMatchObject({ deleted: 5, lastId: '10', last: false });
    } finally {
      await db.destroy();
    }
  });
});
