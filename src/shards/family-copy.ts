/**
 * The shard-side steps of moving a family from one shard to another
 * (services/move-service.ts runs them in order and records progress in the
 * catalog). Each step is one or a few statements on one connection, and
 * each can be run again after a crash:
 *
 * - the copy goes to a staging table on the target
 *   (`databalancer_move_<moveId>`, an internal name: no route, no query and
 *   no raw_logs view reaches it), in id order, in batches; the rows travel
 *   as SQL literals built by the source server itself (QUOTE), so every
 *   value arrives exactly as stored (doubles print round-trip exact);
 * - each batch is verified: row count and a checksum (BIT_XOR of a 64-bit
 *   MD5 prefix of every column's QUOTE) over the same id range on both sides;
 * - the fence: under the family's DDL lock on the source, a marker row
 *   (`databalancer_moved_families`) and a RENAME of the family table to
 *   `databalancer_moved_<moveId>`. RENAME waits for every transaction
 *   writing the table, and any write after it fails with ER_NO_SUCH_TABLE,
 *   rolled back whole, so a process with a stale placement can never lose an
 *   acknowledged event there; the marker stops it from re-creating the table
 *   (shard-manager.ts evolveTable);
 * - the promotion: the staging table is renamed to the family's name on the
 *   target (under the family's DDL lock there).
 *
 * Rows are never updated once written; only purges delete them, and purges
 * of a moving family are refused (services/retention-service.ts), so a range
 * verified once stays equal.
 */
import type { QueryError } from 'mysql2';
import { AppError } from '../errors/app-error.js';
import { declaredTypeOfColumn } from '../schema/type-mapping.js';
import type { DeclaredField } from '../schema/declared-schema.js';
import { ID_COLUMN, INGESTED_AT_COLUMN, INTERNAL_PREFIX, RAW_COLUMN, quoteIdentifier } from '../schema/identifiers.js';
import { addColumnsSql, createFamilyTableSql } from '../schema/table-ddl.js';
import { IDEMPOTENCY_TABLE } from '../schema/internal-tables.js';
import type { PooledConnection } from './connection.js';

/** Table on every shard naming the families that moved away from it (the fence's marker). */
export const MOVED_FAMILIES_TABLE = `${INTERNAL_PREFIX}moved_families`;

/** The staging table of move `moveId` on its target. */
export function stagingTableName(moveId: string): string {
  return `${INTERNAL_PREFIX}move_${moveId}`;
}

/** The family table of move `moveId` on its source once fenced (kept for the grace period, then dropped). */
export function retiredTableName(moveId: string): string {
  return `${INTERNAL_PREFIX}moved_${moveId}`;
}

/** Runs `sql` with `?` bindings on `connection`; resolves with its rows (or the statement's result). */
export function queryOn<T = unknown>(connection: PooledConnection, sql: string, values: readonly unknown[] = []): Promise<T> {
  return new Promise((resolve, reject) => {
    const done = (error: QueryError | null, result: unknown): void => (error ? reject(error) : resolve(result as T));
    if (values.length === 0) connection.query(sql, done);
    else connection.query(sql, values as unknown[], done);
  });
}

/**
 * An id (decimal text) as a SQL number literal. Ids go into the text, not as
 * `?` bindings: a bound string compared with the BIGINT key is compared as a
 * double, and the range then scans the whole table.
 */
function idLiteral(id: string): string {
  if (!/^\d{1,20}$/.test(id)) throw new Error(`not an id: ${id}`);
  return id;
}

/** A table's columns as the copy needs them: every name in table order, and the family's own fields with their types. */
export interface TableColumns {
  /** Every column, `id`, `_ingested_at` and `_raw` included, in ordinal order. */
  names: string[];
  /** The family's fields (not id, `_ingested_at`, `_raw`). */
  fields: DeclaredField[];
  /** The table's next AUTO_INCREMENT value (decimal text), when known. */
  nextId?: string;
}

/** The columns of `table` in `database`; undefined when it does not exist. */
export async function readColumns(connection: PooledConnection, database: string, table: string): Promise<TableColumns | undefined> {
  const rows = await queryOn<Array<{ name: string; dataType: string; columnType: string }>>(
    connection,
    `SELECT COLUMN_NAME AS name, DATA_TYPE AS dataType, COLUMN_TYPE AS columnType
       FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ? ORDER BY ORDINAL_POSITION`,
    [database, table],
  );
  if (rows.length === 0) return undefined;
  const [next] = await queryOn<Array<{ n: string | null }>>(
    connection,
    'SELECT CAST(AUTO_INCREMENT AS CHAR) AS n FROM information_schema.TABLES WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ?',
    [database, table],
  );
  const fields: DeclaredField[] = [];
  for (const row of rows) {
    if (row.name === ID_COLUMN || row.name === INGESTED_AT_COLUMN || row.name === RAW_COLUMN) continue;
    const type = declaredTypeOfColumn({ dataType: row.dataType, columnType: row.columnType, checkJson: row.dataType.toLowerCase() === 'longtext' });
    if (type === undefined) throw new Error(`column ${row.name} of ${table} has a type the gateway does not write (${row.columnType})`);
    fields.push({ name: row.name, type });
  }
  return { names: rows.map((row) => row.name), fields, ...(next?.n == null ? {} : { nextId: next.n }) };
}

/** True when `table` exists in `database`. */
export async function tableExists(connection: PooledConnection, database: string, table: string): Promise<boolean> {
  const rows = await queryOn<unknown[]>(connection, 'SELECT 1 FROM information_schema.TABLES WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ?', [database, table]);
  return rows.length > 0;
}

/**
 * Makes the staging table on the target hold every column of the source:
 * created with the family's shape if missing, else given the columns added
 * on the source since. Returns the target's columns.
 */
export async function ensureStagingColumns(connection: PooledConnection, database: string, staging: string, source: TableColumns): Promise<TableColumns> {
  const existing = await readColumns(connection, database, staging);
  if (existing === undefined) {
    await queryOn(connection, createFamilyTableSql(staging, source.fields));
    // New ids continue where the source's would (a spread family's part keeps its id range even when empty).
    if (source.nextId !== undefined) await queryOn(connection, `ALTER TABLE ${quoteIdentifier(staging)} AUTO_INCREMENT = ${idLiteral(source.nextId)}`);
  } else {
    const have = new Set(existing.names);
    const missing = source.fields.filter((field) => !have.has(field.name));
    if (missing.length > 0) await queryOn(connection, addColumnsSql(staging, missing));
    if (missing.length === 0) return existing;
  }
  const now = await readColumns(connection, database, staging);
  if (now === undefined) throw new Error(`staging table ${staging} missing right after CREATE`);
  return now;
}

/** Highest id in `table` (decimal text; '0' when empty). */
export async function maxId(connection: PooledConnection, table: string): Promise<string> {
  const rows = await queryOn<Array<{ id: string | null }>>(connection, `SELECT CAST(MAX(id) AS CHAR) AS id FROM ${quoteIdentifier(table)}`);
  return rows[0]?.id ?? '0';
}

/** Row count of `table`. */
export async function countRows(connection: PooledConnection, table: string): Promise<number> {
  const rows = await queryOn<Array<{ n: number | string }>>(connection, `SELECT COUNT(*) AS n FROM ${quoteIdentifier(table)}`);
  return Number(rows[0]?.n ?? 0);
}

/** Rows of `table` with id > `afterId`. */
export async function countAfter(connection: PooledConnection, table: string, afterId: string): Promise<number> {
  const rows = await queryOn<Array<{ n: number | string }>>(connection, `SELECT COUNT(*) AS n FROM ${quoteIdentifier(table)} WHERE id > ${idLiteral(afterId)}`);
  return Number(rows[0]?.n ?? 0);
}

/**
 * The writing transactions open on the server now (other than this
 * session's), by InnoDB id; undefined when this user may not read
 * information_schema.INNODB_TRX (it needs the PROCESS privilege).
 */
export async function openWriteTransactions(connection: PooledConnection): Promise<Set<string> | undefined> {
  try {
    const rows = await queryOn<Array<{ id: string }>>(
      connection,
      `SELECT CAST(trx_id AS CHAR) AS id FROM information_schema.INNODB_TRX
        WHERE trx_mysql_thread_id <> CONNECTION_ID() AND trx_autocommit_non_locking = 0`,
    );
    return new Set(rows.map((row) => row.id));
  } catch (error) {
    const errno = (error as { errno?: unknown }).errno;
    if (errno === 1227 || errno === 1142 || errno === 1044) return undefined;
    throw error;
  }
}

/** One batch read from the source: the literal tuples and the id range they cover. */
export interface SourceBatch {
  /** `(v1,v2,...)` per row, in `columns` order. */
  tuples: string[];
  /** Characters of all tuples. */
  chars: number;
  /** Last id read (decimal text); `afterId` when the batch is empty. */
  lastId: string;
}

/** `QUOTE(col)` for every column, comma-joined, as one CONCAT_WS argument list. */
function quotedList(columns: readonly string[]): string {
  return columns.map((name) => `QUOTE(${quoteIdentifier(name)})`).join(', ');
}

/**
 * Reads up to `limit` rows of `table` with id > `afterId` and id <= `upTo`,
 * in id order, each as a SQL tuple built by the server (exact values; NULL
 * as the word NULL). The ORDER BY names the table's column: a bare `id`
 * would be the text alias, in string order ('10' before '9').
 */
export async function readBatch(
  connection: PooledConnection,
  table: string,
  columns: readonly string[],
  afterId: string,
  upTo: string,
  limit: number,
): Promise<SourceBatch> {
  const rows = await queryOn<Array<{ id: string; t: string }>>(
    connection,
    `SELECT CAST(id AS CHAR) AS id, CONCAT('(', CONCAT_WS(',', ${quotedList(columns)}), ')') AS t
       FROM ${quoteIdentifier(table)} WHERE id > ${idLiteral(afterId)} AND id <= ${idLiteral(upTo)} ORDER BY ${quoteIdentifier(table)}.id LIMIT ${Math.floor(limit)}`,
  );
  let chars = 0;
  const tuples = rows.map((row) => {
    chars += row.t.length + 1;
    return row.t;
  });
  return { tuples, chars, lastId: rows.length === 0 ? afterId : (rows[rows.length - 1] as { id: string }).id };
}

/**
 * Writes `batch` into `table` in one transaction, in INSERTs of at most
 * `maxChars` characters each (the server's max_allowed_packet, in safe
 * characters). Rows already there (a batch written before a crash) are
 * replaced by the same values.
 */
export async function writeBatch(connection: PooledConnection, table: string, columns: readonly string[], batch: SourceBatch, maxChars: number): Promise<void> {
  if (batch.tuples.length === 0) return;
  const head = `REPLACE INTO ${quoteIdentifier(table)} (${columns.map(quoteIdentifier).join(', ')}) VALUES `;
  await queryOn(connection, 'START TRANSACTION');
  try {
    let pieces: string[] = [];
    let chars = head.length;
    const flush = async (): Promise<void> => {
      if (pieces.length === 0) return;
      await queryOn(connection, head + pieces.join(','));
      pieces = [];
      chars = head.length;
    };
    for (const tuple of batch.tuples) {
      if (pieces.length > 0 && chars + tuple.length + 1 > maxChars) await flush();
      pieces.push(tuple);
      chars += tuple.length + 1;
    }
    await flush();
    await queryOn(connection, 'COMMIT');
  } catch (error) {
    await queryOn(connection, 'ROLLBACK').catch(() => undefined);
    throw error;
  }
}

/** Count and checksum of an id range. */
export interface RangeSum {
  rows: number;
  /** BIT_XOR of a 64-bit hash per row, decimal text. */
  sum: string;
}

/** Row count and checksum of `table` over ids in (`afterId`, `upTo`], hashing `columns` of every row. */
export async function rangeSum(connection: PooledConnection, table: string, columns: readonly string[], afterId: string, upTo: string): Promise<RangeSum> {
  const rows = await queryOn<Array<{ n: number | string; h: string | null }>>(
    connection,
    `SELECT COUNT(*) AS n, CAST(BIT_XOR(CAST(CONV(LEFT(MD5(CONCAT_WS(',', ${quotedList(columns)})), 16), 16, 10) AS UNSIGNED)) AS CHAR) AS h
       FROM ${quoteIdentifier(table)} WHERE id > ${idLiteral(afterId)} AND id <= ${idLiteral(upTo)}`,
  );
  return { rows: Number(rows[0]?.n ?? 0), sum: rows[0]?.h ?? '0' };
}

/** Deletes the rows of `table` with id > `afterId` (a batch written but not recorded before a crash, or one that failed verification). */
export async function deleteAfter(connection: PooledConnection, table: string, afterId: string, upTo?: string): Promise<void> {
  const upper = upTo === undefined ? '' : ` AND id <= ${idLiteral(upTo)}`;
  await queryOn(connection, `DELETE FROM ${quoteIdentifier(table)} WHERE id > ${idLiteral(afterId)}${upper}`);
}

/** Drops `table` if it exists. */
export async function dropTable(connection: PooledConnection, table: string): Promise<void> {
  await queryOn(connection, `DROP TABLE IF EXISTS ${quoteIdentifier(table)}`);
}

/** CREATE TABLE IF NOT EXISTS of the fence markers. */
function movedFamiliesTableSql(): string {
  return `CREATE TABLE IF NOT EXISTS ${MOVED_FAMILIES_TABLE} (
  family VARCHAR(64) CHARACTER SET ascii COLLATE ascii_bin NOT NULL PRIMARY KEY,
  move_id CHAR(16) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
  moved_at DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci`;
}

/** Records that `family` moved away from this shard (move `moveId`). */
export async function markMovedAway(connection: PooledConnection, family: string, moveId: string): Promise<void> {
  await queryOn(connection, movedFamiliesTableSql());
  await queryOn(connection, `INSERT INTO ${MOVED_FAMILIES_TABLE} (family, move_id) VALUES (?, ?) ON DUPLICATE KEY UPDATE move_id = VALUES(move_id), moved_at = CURRENT_TIMESTAMP(6)`, [family, moveId]);
}

/** Removes the marker of `family` (the family lives here again, or its move was undone). */
export async function clearMovedAway(connection: PooledConnection, family: string): Promise<void> {
  try {
    await queryOn(connection, `DELETE FROM ${MOVED_FAMILIES_TABLE} WHERE family = ?`, [family]);
  } catch (error) {
    if ((error as { errno?: unknown }).errno !== 1146) throw error;
  }
}

/** True when this shard's marker says `family` moved away. */
export async function hasMovedAway(connection: PooledConnection, family: string): Promise<boolean> {
  try {
    const rows = await queryOn<unknown[]>(connection, `SELECT 1 FROM ${MOVED_FAMILIES_TABLE} WHERE family = ?`, [family]);
    return rows.length > 0;
  } catch (error) {
    if ((error as { errno?: unknown }).errno === 1146) return false;
    throw error;
  }
}

/**
 * RENAME TABLE `from` TO `to`, waiting at most `lockWaitSeconds` for the
 * metadata lock (transactions and queries using the table). Throws the
 * driver's error (ER_LOCK_WAIT_TIMEOUT past it).
 */
export async function renameTable(connection: PooledConnection, from: string, to: string, lockWaitSeconds: number): Promise<void> {
  await queryOn(connection, `SET SESSION lock_wait_timeout = ${Math.max(1, Math.floor(lockWaitSeconds))}`);
  try {
    await queryOn(connection, `RENAME TABLE ${quoteIdentifier(from)} TO ${quoteIdentifier(to)}`);
  } finally {
    await queryOn(connection, 'SET SESSION lock_wait_timeout = DEFAULT').catch(() => undefined);
  }
}

/** The family's applied Idempotency-Keys on this shard, as SQL tuples (family, idem_key, response, created_at, request_hash). */
export async function readIdempotencyKeys(connection: PooledConnection, family: string): Promise<string[]> {
  const rows = await queryOn<Array<{ t: string }>>(
    connection,
    `SELECT CONCAT('(', CONCAT_WS(',', QUOTE(family), QUOTE(idem_key), QUOTE(response), QUOTE(created_at), QUOTE(request_hash)), ')') AS t
       FROM ${IDEMPOTENCY_TABLE} WHERE family = ?`,
    [family],
  );
  return rows.map((row) => row.t);
}

/** Writes Idempotency-Keys read by {@link readIdempotencyKeys}; keys already there stay. */
export async function writeIdempotencyKeys(connection: PooledConnection, tuples: readonly string[], maxChars: number): Promise<void> {
  const head = `INSERT IGNORE INTO ${IDEMPOTENCY_TABLE} (family, idem_key, response, created_at, request_hash) VALUES `;
  let pieces: string[] = [];
  let chars = head.length;
  for (const tuple of tuples) {
    if (pieces.length > 0 && chars + tuple.length + 1 > maxChars) {
      await queryOn(connection, head + pieces.join(','));
      pieces = [];
      chars = head.length;
    }
    pieces.push(tuple);
    chars += tuple.length + 1;
  }
  if (pieces.length > 0) await queryOn(connection, head + pieces.join(','));
}

/** Deletes the family's Idempotency-Keys on this shard (after its move, the target answers them). */
export async function deleteIdempotencyKeys(connection: PooledConnection, family: string): Promise<void> {
  await queryOn(connection, `DELETE FROM ${IDEMPOTENCY_TABLE} WHERE family = ?`, [family]);
}

/** Raw copies of `family` in the legacy raw_logs table of this shard (older gateways); 0 when there is none. */
export async function legacyRawRows(connection: PooledConnection, legacyTable: string, family: string): Promise<number> {
  try {
    const rows = await queryOn<Array<{ n: number | string }>>(connection, `SELECT COUNT(*) AS n FROM ${quoteIdentifier(legacyTable)} WHERE family = ?`, [family]);
    return Number(rows[0]?.n ?? 0);
  } catch (error) {
    if ((error as { errno?: unknown }).errno === 1146) return 0;
    throw error;
  }
}

/** The error of a write that found its family moved away from the shard it was sent to (see shard-manager.ts). */
export function familyMovedError(family: string, shard: string): AppError {
  return new AppError(
    'SHARD_UNAVAILABLE',
    `log family "${family}" has just moved away from shard "${shard}"; nothing was written, retry`,
    { shard, family, reason: 'family_moved' },
  );
}

/** True for the error of {@link familyMovedError}. */
export function isFamilyMovedError(error: unknown): boolean {
  return error instanceof AppError && (error.details as { reason?: unknown } | undefined)?.reason === 'family_moved';
}
