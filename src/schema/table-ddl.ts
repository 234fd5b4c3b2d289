/**
 * DDL text for family tables. Knex's schema builder cannot express INVISIBLE
 * columns or CREATE TABLE IF NOT EXISTS with our exact column attributes, so
 * this builds the statements by hand, with every identifier passed through
 * quoteIdentifier. Pure: no I/O.
 */
import type { DeclaredField } from './declared-schema.js';
import { columnSqlType } from './type-mapping.js';
import { INGESTED_AT_COLUMN, quoteIdentifier } from './identifiers.js';

function columnDefinition(field: DeclaredField): string {
  return `${quoteIdentifier(field.name)} ${columnSqlType(field.type)} NULL`;
}

/**
 * CREATE TABLE IF NOT EXISTS for a family: `id` primary key, the declared
 * fields (nullable), and the internal ingestion time, INVISIBLE so that
 * `SELECT *` returns what the seed returned (MariaDB >= 10.3, MySQL >= 8.0.23).
 * Example: ('dogs', [{name:'name', type:'string'}]) ->
 *   CREATE TABLE IF NOT EXISTS `dogs` (`id` BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,
 *   `_ingested_at` DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6) INVISIBLE, `name` TEXT NULL, KEY ...)
 */
export function createFamilyTableSql(family: string, fields: readonly DeclaredField[]): string {
  const columns = [
    '`id` BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY',
    `${quoteIdentifier(INGESTED_AT_COLUMN)} DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6) INVISIBLE`,
    ...fields.map(columnDefinition),
    `KEY ${quoteIdentifier(INGESTED_AT_COLUMN)} (${quoteIdentifier(INGESTED_AT_COLUMN)})`,
  ];
  return `CREATE TABLE IF NOT EXISTS ${quoteIdentifier(family)} (\n  ${columns.join(',\n  ')}\n) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci`;
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
