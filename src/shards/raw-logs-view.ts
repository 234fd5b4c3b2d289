/**
 * The raw_logs view of one shard (docs/design.md, "raw copy"): every family
 * table keeps each event's JSON text in its INVISIBLE `_raw` column, and
 * raw_logs is a VIEW on each shard, a UNION ALL over the shard's family
 * tables (those with a `_raw` column) plus the legacy raw_logs table of
 * shards bootstrapped by older gateways, renamed to
 * databalancer_raw_logs_legacy. The view is recreated under a shard-wide
 * GET_LOCK at bootstrap and whenever a family table is created or gains
 * `_raw` (shard-manager.ts evolveTable, before the placement is recorded, so
 * a placed family is always in the view).
 */
import { INTERNAL_PREFIX, LEGACY_RAW_LOGS_TABLE, RAW_COLUMN, RAW_LOGS_TABLE } from '../schema/identifiers.js';
import { rawLogsViewSql } from '../schema/table-ddl.js';

/** Runs SQL with `?` bindings on one connection; resolves like mysql2's promise API: [rows, fields]. */
export type RunSql = (sql: string, bindings?: readonly unknown[]) => Promise<unknown>;

/** Name of the GET_LOCK serialising raw_logs view changes on a shard. */
export const RAW_LOGS_VIEW_LOCK = 'databalancer:raw_logs_view';

async function rows<T>(run: RunSql, sql: string, bindings: readonly unknown[] = []): Promise<T[]> {
  const result = (await run(sql, bindings)) as [T[]];
  return result[0];
}

/**
 * Under the shard-wide lock: renames a base table raw_logs (older gateways)
 * to the legacy name, then recreates the view over the database's tables
 * with a `_raw` column and the legacy table. Safe to re-run from many
 * processes. Throws when the lock is not had within `lockTimeoutSeconds`.
 */
export async function refreshRawLogsView(run: RunSql, database: string, lockTimeoutSeconds: number): Promise<void> {
  const [lock] = await rows<{ ok: number | null }>(run, 'SELECT GET_LOCK(?, ?) AS ok', [RAW_LOGS_VIEW_LOCK, lockTimeoutSeconds]);
  if (lock?.ok !== 1) throw new Error(`timed out after ${lockTimeoutSeconds}s waiting for another gateway's change of the raw_logs view`);
  try {
    const tables = await rows<{ name: string; type: string }>(
      run,
      'SELECT TABLE_NAME AS name, TABLE_TYPE AS type FROM information_schema.TABLES WHERE TABLE_SCHEMA = ? AND TABLE_NAME IN (?, ?)',
      [database, RAW_LOGS_TABLE, LEGACY_RAW_LOGS_TABLE],
    );
    const oldTable = tables.some((t) => t.name === RAW_LOGS_TABLE && t.type === 'BASE TABLE');
    let legacy = tables.some((t) => t.name === LEGACY_RAW_LOGS_TABLE);
    if (oldTable && !legacy) {
      await run(`RENAME TABLE \`${RAW_LOGS_TABLE}\` TO \`${LEGACY_RAW_LOGS_TABLE}\``);
      legacy = true;
    }
    const families = await rows<{ name: string }>(
      run,
      `SELECT c.TABLE_NAME AS name FROM information_schema.COLUMNS c
         JOIN information_schema.TABLES t ON t.TABLE_SCHEMA = c.TABLE_SCHEMA AND t.TABLE_NAME = c.TABLE_NAME
        WHERE c.TABLE_SCHEMA = ? AND c.COLUMN_NAME = ? AND t.TABLE_TYPE = 'BASE TABLE' AND LEFT(c.TABLE_NAME, ?) <> ?
        ORDER BY c.TABLE_NAME`,
      // Not the gateway's internal tables: a move's staging copy and a moved family's retired table (shards/family-copy.ts).
      [database, RAW_COLUMN, INTERNAL_PREFIX.length, INTERNAL_PREFIX],
    );
    // Still a base table (both names taken): leave it; the legacy one is in the view only once it is renamed.
    if (oldTable && tables.some((t) => t.name === LEGACY_RAW_LOGS_TABLE)) return;
    await run(rawLogsViewSql(families.map((f) => f.name), legacy));
  } finally {
    await run('SELECT RELEASE_LOCK(?)', [RAW_LOGS_VIEW_LOCK]).catch(() => undefined);
  }
}
