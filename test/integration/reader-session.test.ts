/**
 * Reader sessions (shards/shard-pool.ts): a new reader connection gets its
 * settings (strict mode, UTC, the statement time limit, READ ONLY) queued
 * before the statement it was borrowed for. If the server refuses one of
 * them, the connection is closed and the statement queued behind never runs
 * on a session without them.
 */
import { randomBytes } from 'node:crypto';
import { describe, expect, inject, it } from 'vitest';
import { createLogger } from '../../src/logging/logger.js';
import { execute, withConnection } from '../../src/shards/connection.js';
import { ShardPool } from '../../src/shards/shard-pool.js';
import { onShard, TEST_DATABASE } from './helpers/gateway.js';

const shards = inject('shards');

function poolOn(queryTimeoutMs: number): ShardPool {
  const spec = shards[0];
  if (spec === undefined) throw new Error('no shard');
  return new ShardPool(
    { id: spec.name, named: true, host: spec.host, port: spec.port, user: 'root', password: '', database: TEST_DATABASE },
    { poolMax: 1, queryTimeoutMs, logger: createLogger('silent') },
  );
}

async function tableExists(table: string): Promise<boolean> {
  const spec = shards[0];
  if (spec === undefined) throw new Error('no shard');
  const rows = await onShard<{ n: number }>(spec, 'SELECT COUNT(*) AS n FROM information_schema.TABLES WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ?', [TEST_DATABASE, table], null);
  return Number(rows[0]?.n) > 0;
}

describe('reader sessions', () => {
  it('are READ ONLY with the statement time limit from their first statement on', async () => {
    const pool = poolOn(1500);
    try {
      await pool.ready();
      const table = `reader_probe_${randomBytes(4).toString('hex')}`;
      // The very first statement of a fresh connection: the settings ran before it.
      await expect(withConnection(pool.reader, (c) => execute(c, `CREATE TABLE ${table} (a INT)`))).rejects.toMatchObject({ code: 'ER_CANT_EXECUTE_IN_READ_ONLY_TRANSACTION' });
      expect(await tableExists(table)).toBe(false);
      const [[limits]] = (await pool.reader.raw('SELECT @@session.max_statement_time AS limit_s, @@session.time_zone AS tz, @@session.tx_read_only AS ro')) as unknown as [
        [{ limit_s: number; tz: string; ro: number }],
      ];
      expect(limits).toEqual({ limit_s: 1.5, tz: '+00:00', ro: 1 });
    } finally {
      await pool.close();
    }
  });

  it('a setting the server refuses closes the connection: the statement queued behind it never runs', async () => {
    // NaN makes the time limit's SET fail on the server (ER_WRONG_TYPE_FOR_VAR), before READ ONLY is set.
    const pool = poolOn(Number.NaN);
    try {
      await pool.ready();
      // Even a plain SELECT fails: it never reaches a session without its time limit.
      await expect(withConnection(pool.reader, (c) => execute(c, 'SELECT 1'))).rejects.toBeDefined();
      // And so does the next borrower's: each new connection is refused the same way.
      await expect(withConnection(pool.reader, (c) => execute(c, 'SELECT 2'))).rejects.toBeDefined();
    } finally {
      await pool.close();
    }
  });
});
