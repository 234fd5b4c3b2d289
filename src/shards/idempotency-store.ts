/**
 * Applied Idempotency-Keys on a shard (schema/internal-tables.ts): a key is
 * recorded in the same transaction as the rows it answered for, so a retry
 * finds it exactly when those rows exist; with it, a hash of the request, so
 * that the key sent again with another request is told apart from a retry. Entries older than the ttl count
 * as absent and are purged in the background. Knows nothing of HTTP.
 */
import type { Knex } from 'knex';
import { escape } from 'mysql2';
import { IDEMPOTENCY_TABLE, REQUEST_HASH_COLUMN, addRequestHashColumnSql } from '../schema/internal-tables.js';
import { isDuplicateColumnError } from '../errors/mysql-errors.js';
import { toSqlDateTime } from '../schema/time.js';

/** Keys recorded before this time (DATETIME(6) text, UTC) have expired: `now` minus the ttl. */
export function idempotencyCutoff(now: Date, ttlSeconds: number): string {
  return toSqlDateTime(new Date(now.getTime() - ttlSeconds * 1000));
}

/** An applied key: the first answer, and the hash of the request it answered (null when recorded before hashes were kept). */
export interface IdempotencyEntry {
  response: string;
  requestHash: string | null;
}

/** The stored first answer for `key` of `family`, if recorded at or after `notBefore` (DATETIME(6) text, UTC). */
export async function findIdempotentResponse(knex: Knex, family: string, key: string, notBefore: string): Promise<IdempotencyEntry | undefined> {
  const [rows] = (await knex.raw(
    `SELECT response, ${REQUEST_HASH_COLUMN} AS requestHash FROM ${IDEMPOTENCY_TABLE} WHERE family = ? AND idem_key = ? AND created_at >= ?`,
    [family, key, notBefore],
  )) as [Array<{ response: string; requestHash: string | null }>];
  const row = rows[0];
  return row === undefined ? undefined : { response: row.response, requestHash: row.requestHash ?? null };
}

/**
 * Adds the request-hash column to an idempotency table created before it
 * existed (a shard bootstrapped by an older gateway). Run at bootstrap, after
 * CREATE TABLE IF NOT EXISTS. Portable to MySQL (which has no ADD COLUMN IF
 * NOT EXISTS): looks first, and a concurrent bootstrap that added it in
 * between is fine. `query` runs one statement on the shard's database.
 */
export async function addRequestHashColumn(query: (sql: string, values?: unknown[]) => Promise<unknown>): Promise<void> {
  const [rows] = (await query(
    'SELECT 1 FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = ? AND COLUMN_NAME = ?',
    [IDEMPOTENCY_TABLE, REQUEST_HASH_COLUMN],
  )) as [unknown[]];
  if (rows.length > 0) return;
  try {
    await query(addRequestHashColumnSql());
  } catch (error) {
    if (!isDuplicateColumnError(error)) throw error;
  }
}

/**
 * Removes an expired entry for `key` (recorded before `before`), outside any
 * write transaction: inside it, the DELETE's next-key lock (taken even when
 * nothing matches) made concurrent retries of one key deadlock on the INSERT
 * instead of one of them hitting the duplicate key.
 */
export async function forgetExpiredKey(knex: Knex, family: string, key: string, before: string): Promise<void> {
  await knex.raw(`DELETE FROM ${IDEMPOTENCY_TABLE} WHERE family = ? AND idem_key = ? AND created_at < ?`, [family, key, before]);
}

/**
 * The INSERT that records `key` inside the write transaction (values escaped
 * by mysql2; the transaction's session takes no placeholders). A concurrent
 * request with the same key makes it fail with a duplicate key.
 */
export function recordKeySql(family: string, key: string, response: string, now: string, requestHash: string | null): string {
  return `INSERT INTO ${IDEMPOTENCY_TABLE} (family, idem_key, response, created_at, ${REQUEST_HASH_COLUMN}) VALUES (${escape(family)}, ${escape(key)}, ${escape(response)}, ${escape(now)}, ${escape(requestHash)})`;
}

/** Deletes up to `batch` entries recorded before `before`; returns how many went. */
export async function purgeExpiredKeys(knex: Knex, before: string, batch: number): Promise<number> {
  const [result] = (await knex.raw(`DELETE FROM ${IDEMPOTENCY_TABLE} WHERE created_at < ? LIMIT ?`, [before, batch])) as [{ affectedRows: number }];
  return result.affectedRows;
}
