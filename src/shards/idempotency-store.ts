/**
 * Applied Idempotency-Keys on a shard (schema/internal-tables.ts): a key is
 * recorded in the same transaction as the rows it answered for, so a retry
 * finds it exactly when those rows exist. Entries older than the ttl count
 * as absent and are purged in the background. Knows nothing of HTTP.
 */
import type { Knex } from 'knex';
import { escape } from 'mysql2';
import { IDEMPOTENCY_TABLE } from '../schema/internal-tables.js';
import { toSqlDateTime } from '../schema/time.js';

/** Keys recorded before this time (DATETIME(6) text, UTC) have expired: `now` minus the ttl. */
export function idempotencyCutoff(now: Date, ttlSeconds: number): string {
  return toSqlDateTime(new Date(now.getTime() - ttlSeconds * 1000));
}

/** The stored first answer for `key` of `family`, if recorded at or after `notBefore` (DATETIME(6) text, UTC). */
export async function findIdempotentResponse(knex: Knex, family: string, key: string, notBefore: string): Promise<string | undefined> {
  const [rows] = (await knex.raw(`SELECT response FROM ${IDEMPOTENCY_TABLE} WHERE family = ? AND idem_key = ? AND created_at >= ?`, [
    family,
    key,
    notBefore,
  ])) as [Array<{ response: string }>];
  return rows[0]?.response;
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
export function recordKeySql(family: string, key: string, response: string, now: string): string {
  return `INSERT INTO ${IDEMPOTENCY_TABLE} (family, idem_key, response, created_at) VALUES (${escape(family)}, ${escape(key)}, ${escape(response)}, ${escape(now)})`;
}

/** Deletes up to `batch` entries recorded before `before`; returns how many went. */
export async function purgeExpiredKeys(knex: Knex, before: string, batch: number): Promise<number> {
  const [result] = (await knex.raw(`DELETE FROM ${IDEMPOTENCY_TABLE} WHERE created_at < ? LIMIT ?`, [before, batch])) as [{ affectedRows: number }];
  return result.affectedRows;
}
