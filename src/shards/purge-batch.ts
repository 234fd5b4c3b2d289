/**
 * One batch of a purge on a shard: a family's events ingested before a
 * cut-off, deleted from the family table in ONE transaction. The raw copy of
 * an event is its row's `_raw` column (raw_logs is a view over the family
 * tables, shards/raw-logs-view.ts), so it goes with the row: nothing to pair.
 * Raw copies written by older gateways live in the legacy table
 * (databalancer_raw_logs_legacy, the renamed raw_logs); each batch also
 * deletes up to `batchSize` of the family's legacy rows before the cut-off,
 * by that table's (family, `_ingested_at`) index.
 *
 * How rows are found: family tables have no index on `_ingested_at`
 * (keeping one costs every insert; docs/performance.md), so a purge walks the
 * primary key. Each batch reads, in a consistent snapshot,
 * `SELECT id FROM fam WHERE id > after AND _ingested_at < cutoff ORDER BY id
 * LIMIT batchSize` (a primary-key range scan from the previous batch's last
 * id), then deletes exactly those ids, repeating `_ingested_at < cutoff`.
 * Deleting by id takes record locks on rows nobody else writes (events are
 * never updated), never next-key locks at the end of the table, so ingest is
 * not blocked.
 *
 * Exactness, decided: `_ingested_at` is the gateway's clock when it prepared
 * the request, so on a shard ids and times need not agree in order (clock
 * skew between gateways, a request prepared earlier reaching its INSERT
 * later). Therefore no id is ever taken as a time bound:
 * - events at or after the cut-off are never deleted: every SELECT and
 *   DELETE carries `_ingested_at < cutoff`;
 * - all older events are deleted: the walk covers every id. A row that
 *   commits during the walk with an old time and an id below the walk's
 *   position would be passed over, so when the walk reaches the end the
 *   purge sweeps again from id 0 (retention-service.ts): it finishes only
 *   with a batch that scanned the whole table in one snapshot and found fewer
 *   than `batchSize` rows before the cut-off, deleting them all. That is the
 *   guarantee an answer can give: nothing older than the cut-off is left
 *   that the final snapshot saw; an ingest still uncommitted then (prepared
 *   before the cut-off and slower than the purge) is taken by the next purge
 *   or retention run. A walk that starts at id 0 and ends in its first batch
 *   is that final sweep already.
 * The cost is one extra primary-key scan per purge, cheaper than an index
 * maintained on every insert.
 *
 * The transaction is REPEATABLE READ whatever the session's default, with
 * the snapshot taken at START TRANSACTION.
 */
import { createHash } from 'node:crypto';
import type { Knex } from 'knex';
import { purgeLockName } from '../schema/table-ddl.js';
import type { QueryError } from 'mysql2';
import { INGESTED_AT_COLUMN, LEGACY_RAW_LOGS_TABLE, RAW_COLUMN, quoteIdentifier } from '../schema/identifiers.js';
import { withConnection, type PooledConnection } from './connection.js';

/** What one batch should delete. */
export interface PurgeBatch {
  /** The family whose events go (their raw copies with them, and its legacy raw rows). */
  family: string;
  /** Events with `_ingested_at` strictly before this DATETIME(6) text (UTC) go. */
  cutoffSql: string;
  /** Family rows per batch (and at most as many legacy raw rows). */
  batchSize: number;
  /** The walk's position: only ids above it are read (decimal text; '0' to start, or to sweep). Default '0'. */
  afterId?: string;
  /**
   * Called holding the family's purge lock on the shard, before anything is
   * deleted; throws to stop the batch (a move of the family has started:
   * the move takes the same lock once, so no batch it did not see deletes).
   */
  guard?: () => Promise<void>;
}

/** What one batch did. */
export interface PurgeBatchResult {
  /** Family rows deleted (fewer than found when a concurrent purge won some). */
  deleted: number;
  /** Raw copies deleted: the deleted rows that held one, plus legacy raw rows. */
  deletedRaw: number;
  /** The last id this batch read: the next batch's `afterId`. */
  lastId: string;
  /** True when the walk reached the end: fewer than batchSize rows (and legacy rows) before the cut-off were left after `afterId`. */
  last: boolean;
}

/** Runs `sql` with `?` bindings on `connection`; resolves with its rows or result. */
function query(connection: PooledConnection, sql: string, values: readonly unknown[] = []): Promise<unknown> {
  return new Promise((resolve, reject) => {
    connection.query(sql, values as unknown[], (error: QueryError | null, result: unknown) => (error ? reject(error) : resolve(result)));
  });
}

/** DELETE of `ids` of `table` still matching `where`; resolves with affected rows. */
async function deleteIds(connection: PooledConnection, table: string, ids: readonly unknown[], where: string, bindings: readonly unknown[]): Promise<number> {
  if (ids.length === 0) return 0;
  const result = (await query(connection, `DELETE FROM ${table} WHERE id IN (${ids.map(() => '?').join(',')}) AND ${where}`, [...ids, ...bindings])) as {
    affectedRows: number;
  };
  return result.affectedRows;
}

function errno(error: unknown): number | undefined {
  return typeof error === 'object' && error !== null ? ((error as { errno?: number }).errno ?? undefined) : undefined;
}

/**
 * Runs one batch, in one transaction on a connection of `knex`. Throws the
 * driver's error (ER_NO_SUCH_TABLE when the family table does not exist);
 * then nothing of the batch is deleted.
 */
export async function deletePurgeBatch(knex: Knex, batch: PurgeBatch): Promise<PurgeBatchResult> {
  return withConnection(knex, async (connection) => {
    if (batch.guard === undefined) return runBatch(connection, batch);
    const lock = purgeLockName(batch.family, (text) => createHash('md5').update(text).digest('hex'));
    const rows = (await query(connection, 'SELECT GET_LOCK(?, ?) AS ok', [lock, PURGE_LOCK_WAIT_SECONDS])) as Array<{ ok: number | null }>;
    if (rows[0]?.ok !== 1) throw new Error(`timed out after ${PURGE_LOCK_WAIT_SECONDS}s waiting for the purge lock of ${batch.family}`);
    try {
      await batch.guard();
      return await runBatch(connection, batch);
    } finally {
      await query(connection, 'SELECT RELEASE_LOCK(?)', [lock]).catch(() => undefined);
    }
  });
}

/** Seconds a purge batch waits for its family's purge lock (held only by another batch, or a move for an instant). */
const PURGE_LOCK_WAIT_SECONDS = 30;

async function runBatch(connection: PooledConnection, batch: PurgeBatch): Promise<PurgeBatchResult> {
  const family = quoteIdentifier(batch.family);
  const legacy = quoteIdentifier(LEGACY_RAW_LOGS_TABLE);
  const at = quoteIdentifier(INGESTED_AT_COLUMN);
  const after = batch.afterId ?? '0';
  await query(connection, 'SET TRANSACTION ISOLATION LEVEL REPEATABLE READ');
  await query(connection, 'START TRANSACTION WITH CONSISTENT SNAPSHOT');
  try {
    const select = (rawFlag: string): Promise<unknown> =>
      query(
        connection,
        // ORDER BY the table's id: a bare `id` would be the text alias, in string order ('10' before '9').
        `SELECT CAST(id AS CHAR) AS id, ${rawFlag} AS r FROM ${family} WHERE id > ? AND ${at} < ? ORDER BY ${family}.id LIMIT ?`,
        [after, batch.cutoffSql, batch.batchSize],
      );
    let found: Array<{ id: string; r: number | string | null }>;
    try {
      found = (await select(`${quoteIdentifier(RAW_COLUMN)} IS NOT NULL`)) as typeof found;
    } catch (error) {
      // A table of an older gateway not yet given `_raw` (it gets it at its next ingest): its raw copies are legacy rows.
      if (errno(error) !== 1054) throw error;
      found = (await select('0')) as typeof found;
    }
    const withRaw = found.filter((row) => Number(row.r) === 1).map((row) => row.id);
    const without = found.filter((row) => Number(row.r) !== 1).map((row) => row.id);
    const rawDeleted = await deleteIds(connection, family, withRaw, `${at} < ?`, [batch.cutoffSql]);
    const deleted = rawDeleted + (await deleteIds(connection, family, without, `${at} < ?`, [batch.cutoffSql]));
    let legacyFound = 0;
    let legacyDeleted = 0;
    try {
      const ids = ((await query(connection, `SELECT id FROM ${legacy} WHERE family = ? AND ${at} < ? ORDER BY family, ${at} LIMIT ?`, [
        batch.family,
        batch.cutoffSql,
        batch.batchSize,
      ])) as Array<{ id: unknown }>).map((row) => row.id);
      legacyFound = ids.length;
      legacyDeleted = await deleteIds(connection, legacy, ids, `family = ? AND ${at} < ?`, [batch.family, batch.cutoffSql]);
    } catch (error) {
      if (errno(error) !== 1146) throw error; // no legacy table on this shard
    }
    await query(connection, 'COMMIT');
    const lastId = found.length === 0 ? after : (found[found.length - 1] as { id: string }).id;
    return { deleted, deletedRaw: rawDeleted + legacyDeleted, lastId, last: found.length < batch.batchSize && legacyFound < batch.batchSize };
  } catch (error) {
    await query(connection, 'ROLLBACK').catch(() => undefined);
    throw error;
  }
}
