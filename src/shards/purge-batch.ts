/**
 * One batch of a purge on a shard: the rows of a table ingested before a
 * cut-off, deleted by primary key. Why in two statements: a batch first
 * reads up to `batchSize` ids with `_ingested_at < cut-off` through the
 * `_ingested_at` index (a plain consistent read, no locks), then deletes
 * exactly those ids by primary key (record locks on rows nobody else writes:
 * events are never updated). A range DELETE over `_ingested_at` would
 * instead take InnoDB next-key locks up to the first row at or after the
 * cut-off, and when no such row exists that includes the supremum record,
 * which blocks concurrent inserts at the end of the index for the whole
 * statement. The cut-off is repeated in the DELETE so nothing ingested at or
 * after it can go, whatever happened in between.
 */
import type { Knex } from 'knex';
import { INGESTED_AT_COLUMN, RAW_LOGS_TABLE, quoteIdentifier } from '../schema/identifiers.js';

/** What one batch should delete. */
export interface PurgeBatch {
  /** The family whose rows go: its own table, or its rows of raw_logs. */
  family: string;
  /** The family table, or raw_logs. */
  table: string;
  /** Rows with `_ingested_at` strictly before this DATETIME(6) text (UTC) go. */
  cutoffSql: string;
  /** Rows per batch at most. */
  batchSize: number;
}

/** What one batch did: rows it found before the cut-off, and rows it deleted (fewer when a concurrent purge won some). */
export interface PurgeBatchResult {
  found: number;
  deleted: number;
}

/** Runs one batch. Throws the driver's error (ER_NO_SUCH_TABLE when the family table does not exist). */
export async function deletePurgeBatch(knex: Knex, batch: PurgeBatch): Promise<PurgeBatchResult> {
  const raw = batch.table === RAW_LOGS_TABLE;
  const t = quoteIdentifier(batch.table);
  const at = quoteIdentifier(INGESTED_AT_COLUMN);
  // raw_logs: the (family, _ingested_at) index serves both the filter and the order.
  const where = raw ? `family = ? AND ${at} < ?` : `${at} < ?`;
  const whereBindings = raw ? [batch.family, batch.cutoffSql] : [batch.cutoffSql];
  const [rows] = (await knex.raw(`SELECT id FROM ${t} WHERE ${where} ORDER BY ${at} LIMIT ?`, [...whereBindings, batch.batchSize])) as [
    Array<{ id: number | string }>,
  ];
  const ids = rows.map((row) => row.id);
  if (ids.length === 0) return { found: 0, deleted: 0 };
  const [result] = (await knex.raw(`DELETE FROM ${t} WHERE id IN (${ids.map(() => '?').join(',')}) AND ${where}`, [...ids, ...whereBindings])) as [
    { affectedRows: number },
  ];
  return { found: ids.length, deleted: result.affectedRows };
}
