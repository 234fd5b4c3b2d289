/**
 * Retries are safe: the same PUT /api/log with the same Idempotency-Key stores
 * its events once (sequentially and concurrently, across gateways); a
 * different key stores again.
 */
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { ingest, snapshotFamily, startGateway, uniqueFamily, type TestGateway } from './helpers/gateway.js';

const shards = inject('shards');
let gateway: TestGateway;
let other: TestGateway;

beforeAll(async () => {
  [gateway, other] = await Promise.all([startGateway(shards), startGateway(shards)]);
});
afterAll(async () => {
  await Promise.all([gateway.close(), other.close()]);
});

const SCHEMA = { name: 'string', n: 'int' };
const LOGS = [
  { name: 'a', n: 1 },
  { name: 'b', n: 2 },
  { name: 'c', n: 3 },
];

describe('Idempotency-Key', () => {
  it('the same key twice stores once; both answers say ingested 3, the second replayed', async () => {
    const family = uniqueFamily('idem');
    const key = { 'Idempotency-Key': `key-${family}` };
    const firstAnswer = await ingest(gateway, family, SCHEMA, LOGS, key);
    expect(firstAnswer.status).toBe(200);
    expect(firstAnswer.body).toMatchObject({ family, ingested: 3, replayed: false });
    const again = await ingest(gateway, family, SCHEMA, LOGS, key);
    expect(again.status).toBe(200);
    expect(again.body).toMatchObject({ family, ingested: 3, shard: firstAnswer.body.shard, replayed: true });
    // Another gateway process knows the key too: it lives on the shard, not in memory.
    const elsewhere = await ingest(other, family, SCHEMA, LOGS, key);
    expect(elsewhere.body).toMatchObject({ ingested: 3, replayed: true });

    const snapshot = await snapshotFamily(shards, family);
    expect(snapshot.rows[firstAnswer.body.shard]).toBe(3);
    expect(snapshot.rawLogs[firstAnswer.body.shard]).toBe(3);

    const fresh = await ingest(gateway, family, SCHEMA, LOGS, { 'Idempotency-Key': `other-${family}` });
    expect(fresh.body).toMatchObject({ ingested: 3, replayed: false });
    const none = await ingest(gateway, family, SCHEMA, LOGS);
    expect(none.body).toMatchObject({ ingested: 3, replayed: false });
    const after = await snapshotFamily(shards, family);
    expect(after.rows[firstAnswer.body.shard]).toBe(9);
    expect(after.rawLogs[firstAnswer.body.shard]).toBe(9);
  });

  it('concurrent requests with one key on a brand-new family store once; exactly one is not a replay', async () => {
    const family = uniqueFamily('idemrace');
    const key = { 'Idempotency-Key': `race-${family}` };
    const answers = await Promise.all(Array.from({ length: 6 }, (_, i) => ingest(i % 2 === 0 ? gateway : other, family, SCHEMA, LOGS, key)));
    for (const answer of answers) {
      expect(answer.status, JSON.stringify(answer.body)).toBe(200);
      expect(answer.body).toMatchObject({ family, ingested: 3 });
    }
    expect(answers.filter((a) => a.body.replayed === false)).toHaveLength(1);
    const snapshot = await snapshotFamily(shards, family);
    const home = answers[0]?.body.shard as string;
    expect(snapshot.rows[home]).toBe(3);
    expect(snapshot.rawLogs[home]).toBe(3);
    expect(snapshot.idempotencyKeys[home]).toBe(1);
  });

  it('concurrent requests with one key on an existing family store once', async () => {
    const family = uniqueFamily('idemrace2');
    expect((await ingest(gateway, family, SCHEMA, LOGS)).status).toBe(200);
    const key = { 'Idempotency-Key': `race2-${family}` };
    const answers = await Promise.all(Array.from({ length: 8 }, (_, i) => ingest(i % 2 === 0 ? gateway : other, family, SCHEMA, LOGS, key)));
    expect(answers.map((a) => a.status)).toEqual(Array.from({ length: 8 }, () => 200));
    expect(answers.filter((a) => a.body.replayed === false)).toHaveLength(1);
    const home = answers[0]?.body.shard as string;
    expect((await snapshotFamily(shards, family)).rows[home]).toBe(6);
  });

  it('the same key on another family is a different request', async () => {
    const key = { 'Idempotency-Key': 'shared-key-across-families' };
    const a = uniqueFamily('idema');
    const b = uniqueFamily('idemb');
    expect((await ingest(gateway, a, SCHEMA, LOGS, key)).body).toMatchObject({ ingested: 3, replayed: false });
    expect((await ingest(gateway, b, SCHEMA, LOGS, key)).body).toMatchObject({ ingested: 3, replayed: false });
  });

  it('a rejected request does not use up its key', async () => {
    const family = uniqueFamily('idembad');
    const key = { 'Idempotency-Key': `bad-${family}` };
    const bad = await ingest(gateway, family, SCHEMA, [{ name: 'x', n: 'not a number' }], key);
    expect(bad.status).toBe(400);
    expect(bad.body.error.code).toBe('INVALID_VALUE');
    const good = await ingest(gateway, family, SCHEMA, LOGS, key);
    expect(good.body).toMatchObject({ ingested: 3, replayed: false });
  });

  it('an over-long key is 400 BAD_USER_INPUT and writes nothing', async () => {
    const family = uniqueFamily('idemlong');
    const answer = await ingest(gateway, family, SCHEMA, LOGS, { 'Idempotency-Key': 'k'.repeat(256) });
    expect(answer.status).toBe(400);
    expect(answer.body.error.code).toBe('BAD_USER_INPUT');
    expect((await snapshotFamily(shards, family)).placements).toEqual([]);
  });
});
