/**
 * DDL text for family tables. Knex's schema builder cannot express INVISIBLE
 * columns or CREATE TABLE IF NOT EXISTS with our exact column attributes, so
 * this builds the statements by hand, with every identifier passed through
 * quoteIdentifier. Pure: no I/O.
 */
import type { DeclaredField } from './declared-schema.js';
import { columnSqlType } from './type-mapping.js';
import { INGESTED_AT_COLUMN, LEGACY_RAW_LOGS_TABLE, RAW_COLUMN, RAW_LOGS_TABLE, quoteIdentifier } from './identifiers.js';

function columnDefinition(field: DeclaredField): string {
  return `${quoteIdentifier(field.name)} ${columnSqlType(field.type)} NULL`;
}

/**
 * CREATE TABLE IF NOT EXISTS for a family: `id` primary key, the declared
 * fields (nullable), the internal ingestion time (no secondary index:
 * retention finds cut-offs by primary key, shards/purge-batch.ts) and the
 * event's raw JSON text `_raw` (raw_logs is a view over it), INVISIBLE so that
 * `SELECT *` returns what the seed returned (MariaDB >= 10.3, MySQL >= 8.0.23).
 * Example: ('dogs', [{name:'name', type:'string'}]) ->
 *   CREATE TABLE IF NOT EXISTS `dogs` (`id` BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,
 *   `_ingested_at` DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6) INVISIBLE, `_raw` LONGTEXT NULL INVISIBLE, `name` TEXT NULL)
 */
export function createFamilyTableSql(family: string, fields: readonly DeclaredField[]): string {
  const columns = [
    '`id` BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY',
    `${quoteIdentifier(INGESTED_AT_COLUMN)} DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6) INVISIBLE`,
    RAW_COLUMN_DEFINITION,
    ...fields.map(columnDefinition),
  ];
  return `CREATE TABLE IF NOT EXISTS ${quoteIdentifier(family)} (\n  ${columns.join(',\n  ')}\n) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci`;
}

/** The raw copy's column: the event's JSON text, NULL when raw copies are off. */
const RAW_COLUMN_DEFINITION = `${quoteIdentifier(RAW_COLUMN)} LONGTEXT NULL INVISIBLE`;

/** Adds `_raw` to a family table created by an older gateway (instant in MariaDB 10.3+). */
export function addRawColumnSql(family: string): string {
  return `ALTER TABLE ${quoteIdentifier(family)} ADD COLUMN ${RAW_COLUMN_DEFINITION}`;
}

/**
 * The raw_logs view of one shard: a UNION ALL of every family table's raw
 * copies, plus the legacy raw_logs table when one was renamed; with neither,
 * an empty SELECT with the same columns. `log` goes through
 * JSON_QUERY(_raw, '$'), which returns the stored text verbatim (spacing and
 * number spelling kept; every raw copy is an object): a JSON function's
 * result carries MariaDB's json format metadata, so the gateway parses it as
 * it parsed the old table's JSON column (query/result-types.ts isJsonField).
 * Example: (['dogs'], false) -> CREATE OR REPLACE SQL SECURITY INVOKER VIEW `raw_logs` AS SELECT `id`, _ascii'dogs' COLLATE ascii_bin AS family, JSON_QUERY(`_raw`, '$') AS log FROM `dogs` WHERE `_raw` IS NOT NULL
 */
export function rawLogsViewSql(families: readonly string[], legacy: boolean): string {
  const raw = quoteIdentifier(RAW_COLUMN);
  const branches = families.map(
    (family) =>
      `SELECT \`id\`, _ascii'${family}' COLLATE ascii_bin AS family, JSON_QUERY(${raw}, '$') AS log FROM ${quoteIdentifier(family)} WHERE ${raw} IS NOT NULL`,
  );
  if (legacy) {
    branches.push(`SELECT id, family, JSON_QUERY(log, '$') AS log FROM ${quoteIdentifier(LEGACY_RAW_LOGS_TABLE)}`);
  }
  if (branches.length === 0) {
    branches.push(`SELECT CAST(NULL AS SIGNED) AS id, CAST(NULL AS CHAR(64) CHARACTER SET ascii) COLLATE ascii_bin AS family, JSON_QUERY(CAST(NULL AS CHAR), '$') AS log FROM DUAL WHERE FALSE`);
  }
  return `CREATE OR REPLACE SQL SECURITY INVOKER VIEW ${quoteIdentifier(RAW_LOGS_TABLE)} AS ${branches.join(' UNION ALL ')}`;
}

/**
 * One ALTER TABLE adding every field as a nullable column (older rows read NULL).
 * Example: ('dogs', [{name:'age', type:'int'}]) -> ALTER TABLE `dogs` ADD COLUMN `age` BIGINT NULL
 */
export function addColumnsSql(family: string, fields: readonly DeclaredField[]): string {
  return `ALTER TABLE ${quoteIdentifier(family)} ${fields.map((f) => `ADD COLUMN ${columnDefinition(f)}`).join(', ')}`;
}

/**
 * The name of the GET_LOCK that serialises DDL on one family. MySQL caps lock
 * names at 64 characters, so long family names are shortened with a hash.
 */
export function familyLockName(family: string, hash: (text: string) => string): string {
  const name = `databalancer:family:${family}`;
  return name.length <= 64 ? name : `databalancer:family#${hash(family)}`;
}

/**
 * The name of the GET_LOCK each purge batch of a family holds on its shard:
 * a move takes it once after it is recorded, so no batch that started
 * before the move deletes rows the move has copied (shards/family-copy.ts).
 */
export function purgeLockName(family: string, hash: (text: string) => string): string {
  const name = `databalancer:purge:${family}`;
  return name.length <= 64 ? name : `databalancer:purge#${hash(family)}`;
}
