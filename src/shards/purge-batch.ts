/**
 * One batch of a purge on a shard: a family's events ingested before a
 * cut-off, deleted from the family table and from raw_logs in ONE
 * transaction, so that a crash at any moment (the gateway's or the server's)
 * leaves both tables holding the same events.
 *
 * How raw rows map to family rows: there is no stored link (raw_logs has no
 * family-row id), but ingest writes a request's typed rows and their raw
 * copies in one transaction, with the same `_ingested_at` (the request's
 * time) and in the same order (event order; auto-increment ids grow within
 * a transaction). So a batch is cut by ingestion time, then by rank:
 *
 * - the `batchSize`-th oldest row before the cut-off has time `T`;
 * - the batch deletes every family row and every raw row of the family
 *   older than `T` (the same events: whole requests), and the first `k`
 *   rows at `T` by id of each table, `k` being what is left of `batchSize`
 *   (the first `k` events of the request at `T`, in both tables);
 * - when fewer than `batchSize` rows are left before the cut-off, the batch
 *   deletes all of them, in both tables: the last batch.
 *
 * So after each committed batch both tables hold the same events, and
 * exactly `batchSize` family rows go per batch however large one request
 * was. (Two requests of one family in the same microsecond could interleave
 * their ids; a batch splitting that group still takes as many raw copies as
 * rows, and the whole group goes by the next batch at the latest.)
 *
 * Why the batch reads in a consistent snapshot: both SELECTs (family ids and
 * raw ids) see the same committed ingests, so an ingest committing in
 * between (a request whose time is before the bound but that committed late)
 * is either in both lists or in neither; it is then purged by a later batch.
 * The transaction is REPEATABLE READ whatever the session's default, with
 * the snapshot taken at START TRANSACTION.
 *
 * Why ids, then DELETE by primary key: the SELECTs are plain consistent
 * reads (no locks), and deleting exactly those ids takes record locks on
 * rows nobody else writes (events are never updated). A range DELETE over
 * `_ingested_at` would instead take InnoDB next-key locks up to the first
 * row at or after the bound, and when no such row exists that includes the
 * supremum record, which blocks concurrent inserts at the end of the index
 * for the whole statement. The bound is repeated in the DELETEs so nothing
 * ingested at or after it can go, whatever happened in between.
 *
 * Exactness: `T` is before the cut-off and every DELETE repeats
 * `_ingested_at <= T` (`< cut-off` for the last batch), so events ingested
 * at or after the cut-off are never deleted; the last batch deletes
 * everything older that its snapshot sees.
 */
import type { Knex } from 'knex';
import type { QueryError } from 'mysql2';
import { INGESTED_AT_COLUMN, RAW_LOGS_TABLE, quoteIdentifier } from '../schema/identifiers.js';
import { withConnection, type PooledConnection } from './connection.js';

/** What one batch should delete. */
export interface PurgeBatch {
  /** The family whose events go: from its own table and from raw_logs. */
  family: string;
  /** Events with `_ingested_at` strictly before this DATETIME(6) text (UTC) go. */
  cutoffSql: string;
  /** Family rows per batch (and as many raw copies). */
  batchSize: number;
}

/** What one batch did. */
export interface PurgeBatchResult {
  /** Family rows deleted (fewer than found when a concurrent purge won some). */
  deleted: number;
  /** raw_logs rows of the family deleted. */
  deletedRaw: number;
  /** True when this batch reached the cut-off: nothing older than it was left in its snapshot. */
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

/**
 * Runs one batch, in one transaction on a connection of `knex`. Throws the
 * driver's error (ER_NO_SUCH_TABLE when the family table does not exist);
 * then nothing of the batch is deleted.
 */
export async function deletePurgeBatch(knex: Knex, batch: PurgeBatch): Promise<PurgeBatchResult> {
  const family = quoteIdentifier(batch.family);
  const raw = quoteIdentifier(RAW_LOGS_TABLE);
  const at = quoteIdentifier(INGESTED_AT_COLUMN);
  return withConnection(knex, async (connection) => {
    await query(connection, 'SET TRANSACTION ISOLATION LEVEL REPEATABLE READ');
    await query(connection, 'START TRANSACTION WITH CONSISTENT SNAPSHOT');
    try {
      // The time of the batchSize-th oldest row before the cut-off, as text (a Date would lose the microseconds).
      const [edge] = (await query(
        connection,
        `SELECT DATE_FORMAT(${at}, '%Y-%m-%d %H:%i:%s.%f') AS t FROM ${family} WHERE ${at} < ? ORDER BY ${at} LIMIT 1 OFFSET ?`,
        [batch.cutoffSql, Math.max(0, batch.batchSize - 1)],
      )) as Array<{ t: string }>;
      const ids = async (table: string, filter: string, bindings: readonly unknown[]): Promise<unknown[]> =>
        ((await query(connection, `SELECT id FROM ${table} WHERE ${filter}`, bindings)) as Array<{ id: unknown }>).map((row) => row.id);
      let familyIds: unknown[];
      let rawIds: unknown[];
      let bound: string;
      let where: string;
      if (edge === undefined) {
        bound = batch.cutoffSql;
        where = `${at} < ?`;
        familyIds = await ids(family, where, [bound]);
        rawIds = await ids(raw, `family = ? AND ${where}`, [batch.family, bound]);
      } else {
        bound = edge.t;
        where = `${at} <= ?`;
        const older = await ids(family, `${at} < ?`, [bound]);
        const k = batch.batchSize - older.length;
        familyIds = [...older, ...(await ids(family, `${at} = ? ORDER BY id LIMIT ?`, [bound, k]))];
        rawIds = [
          ...(await ids(raw, `family = ? AND ${at} < ?`, [batch.family, bound])),
          ...(await ids(raw, `family = ? AND ${at} = ? ORDER BY id LIMIT ?`, [batch.family, bound, k])),
        ];
      }
      const deleted = await deleteIds(connection, family, familyIds, where, [bound]);
      const deletedRaw = await deleteIds(connection, raw, rawIds, `family = ? AND ${where}`, [batch.family, bound]);
      await query(connection, 'COMMIT');
      return { deleted, deletedRaw, last: edge === undefined };
    } catch (error) {
      await query(connection, 'ROLLBACK').catch(() => undefined);
      throw error;
    }
  });
}
