/**
 * Identifiers are always escaped: field names full of SQL metacharacters are
 * stored under their exact names (checked in information_schema on the
 * shard) and queryable with backtick quoting; names MySQL cannot hold are 400.
 */
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { ingest, onShard, query, snapshotFamily, specNamed, startGateway, tableExists, uniqueFamily, TEST_DATABASE, type TestGateway } from './helpers/gateway.js';

const shards = inject('shards');
let gateway: TestGateway;

beforeAll(async () => {
  gateway = await startGateway(shards);
});
afterAll(async () => {
  await gateway.close();
});

const NASTY_NAMES = [
  'back`tick',
  '``',
  "single'quote",
  'double"quote',
  'semi;colon',
  'question?mark',
  'dotted.name',
  'has spaces inside',
  '); DROP TABLE raw_logs; --',
  "' OR '1'='1",
  '\\backslash\\',
  '${x}',
  'Ünïcödé ñame',
  'new\nline',
];

function quote(name: string): string {
  return `\`${name.replace(/`/g, '``')}\``;
}

describe('field names are escaped, never executed', () => {
  it('stores every nasty name exactly and answers queries that quote it', async () => {
    const family = uniqueFamily('idents');
    const schema = Object.fromEntries(NASTY_NAMES.map((name) => [name, 'string']));
    const event = Object.fromEntries(NASTY_NAMES.map((name, i) => [name, `value ${i} for ${name}`]));
    const answer = await ingest(gateway, family, schema, [event]);
    expect(answer.status).toBe(200);
    const home = specNamed(shards, answer.body.shard);

    const columns = await onShard<{ name: string }>(
      home,
      'SELECT COLUMN_NAME AS name FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ? ORDER BY ORDINAL_POSITION',
      [TEST_DATABASE, family],
      null,
    );
    expect(columns.map((c) => c.name).filter((n) => n !== 'id' && n !== '_ingested_at' && n !== '_raw')).toEqual(NASTY_NAMES);
    // Nothing was executed: raw_logs still exists on every shard that has been used.
    for (const shard of shards) {
      const bootstrapped = await tableExists(shard, 'databalancer_idempotency');
      if (bootstrapped) expect(await tableExists(shard, 'raw_logs'), shard.name).toBe(true);
    }
    expect(await tableExists(home, 'raw_logs')).toBe(true);

    const all = await query(gateway, `SELECT * FROM ${family}`);
    expect(all.status).toBe(200);
    expect(Object.keys(all.body.results[0])).toEqual(['id', ...NASTY_NAMES]);
    for (const [i, name] of NASTY_NAMES.entries()) {
      const one = await query(gateway, `SELECT ${quote(name)} FROM ${quote(family)} WHERE ${quote(name)} = 'value ${i} for ${name.replace(/\\/g, '\\\\').replace(/'/g, "''")}'`);
      expect(one.status, name).toBe(200);
      expect(one.body.results, name).toEqual([{ [name]: `value ${i} for ${name}` }]);
    }

    // A later request adds another nasty column next to them.
    const later = await ingest(gateway, family, { 'a`; DELETE FROM raw_logs; `': 'int' }, [{ 'a`; DELETE FROM raw_logs; `': 5 }]);
    expect(later.status).toBe(200);
    const raw = await onShard<{ n: number }>(home, 'SELECT COUNT(*) AS n FROM raw_logs WHERE family = ?', [family]);
    expect(raw[0]?.n).toBe(2);
  });

  it.each([
    ['an emoji', 'dog 🐕'],
    ['a NUL character', 'nul\u0000name'],
    ['a trailing space', 'trailing '],
    ['a trailing tab', 'trailing\t'],
    ['only spaces', '   '],
    ['an empty name', ''],
  ])('a field name with %s is 400 INVALID_FIELD_NAME and nothing is written', async (_label, name) => {
    const family = uniqueFamily('badident');
    const answer = await ingest(gateway, family, { ok: 'int', [name]: 'string' }, [{ ok: 1 }]);
    expect(answer.status).toBe(400);
    expect(answer.body.error.code).toBe('INVALID_FIELD_NAME');
    const snapshot = await snapshotFamily(shards, family);
    expect(snapshot.placements).toEqual([]);
    expect(Object.values(snapshot.columns).every((c) => c === null)).toBe(true);
  });
});
