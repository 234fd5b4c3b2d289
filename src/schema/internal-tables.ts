/**
 * The tables every shard holds beside the family tables, defined once:
 * `raw_logs` (the lossless JSON copy of each event, also staged per query by
 * federation) and the table of applied Idempotency-Keys. Pure: DDL text only.
 */
import { INGESTED_AT_COLUMN, RAW_LOGS_TABLE, quoteIdentifier } from './identifiers.js';

/** Table of applied Idempotency-Keys on every shard. */
export const IDEMPOTENCY_TABLE = 'databalancer_idempotency';

/** How a raw_logs table is created. */
export interface RawLogsTableOptions {
  /** Table name; default raw_logs. */
  name?: string;
  /**
   * A per-query TEMPORARY copy gathering several shards' rows: ids repeat
   * across shards, so it has no primary key, only plain indexes; and it needs
   * no crash safety, so it may use a faster engine.
   */
  staged?: { engine: 'Aria' | 'InnoDB' };
}

/**
 * CREATE TABLE for raw_logs. It keeps the seed's visible columns (id, family,
 * log); the ingestion time is INVISIBLE so `SELECT *` stays as in the seed.
 * MariaDB refuses a NOT NULL INVISIBLE column without a default, hence the
 * default on the ingestion time (the gateway always writes it).
 * @example rawLogsTableSql() // => 'CREATE TABLE IF NOT EXISTS `raw_logs` (id BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY, ...'
 */
export function rawLogsTableSql(options: RawLogsTableOptions = {}): string {
  const at = quoteIdentifier(INGESTED_AT_COLUMN);
  const name = quoteIdentifier(options.name ?? RAW_LOGS_TABLE);
  const staged = options.staged;
  const columns = [
    staged === undefined ? 'id BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY' : 'id BIGINT NOT NULL',
    'family VARCHAR(64) CHARACTER SET ascii COLLATE ascii_bin NOT NULL',
    'log JSON NOT NULL',
    `${at} DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6) INVISIBLE`,
    ...(staged === undefined ? [`KEY family_ingested_at (family, ${at})`] : ['KEY id (id)', 'KEY family (family)']),
  ];
  const create = staged === undefined ? 'CREATE TABLE IF NOT EXISTS' : 'CREATE TEMPORARY TABLE';
  return `${create} ${name} (\n  ${columns.join(',\n  ')}\n) ENGINE=${staged?.engine ?? 'InnoDB'} DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci`;
}

/** Column of the idempotency table: SHA-256 (hex) of the request a key was applied to; NULL for keys recorded before it existed. */
export const REQUEST_HASH_COLUMN = 'request_hash';

const REQUEST_HASH_DEFINITION = `${REQUEST_HASH_COLUMN} CHAR(64) CHARACTER SET ascii COLLATE ascii_bin NULL`;

/** CREATE TABLE IF NOT EXISTS for the applied Idempotency-Keys (family, key) -> the first answer and the request's hash. */
export function idempotencyTableSql(): string {
  return `CREATE TABLE IF NOT EXISTS ${IDEMPOTENCY_TABLE} (
  family VARCHAR(64) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
  idem_key VARCHAR(255) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL,
  response TEXT NOT NULL,
  created_at DATETIME(6) NOT NULL,
  ${REQUEST_HASH_DEFINITION},
  PRIMARY KEY (family, idem_key),
  KEY created_at (created_at)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci`;
}

/** Adds the request-hash column to an idempotency table created without it (shards bootstrapped by older gateways). */
export function addRequestHashColumnSql(): string {
  return `ALTER TABLE ${IDEMPOTENCY_TABLE} ADD COLUMN ${REQUEST_HASH_DEFINITION}`;
}

/**
 * Table of one row on every shard's database: the shard id it was first
 * bootstrapped under. The database itself carries its identity, so a shard
 * configured without a name keeps its id when its address is spelled another
 * way (localhost vs 127.0.0.1); see shards/shard-identity.ts.
 */
export const SHARD_IDENTITY_TABLE = 'databalancer_shard_identity';

/** CREATE TABLE IF NOT EXISTS for {@link SHARD_IDENTITY_TABLE} (a single row, `singleton` = 1). */
export function shardIdentityTableSql(): string {
  return `CREATE TABLE IF NOT EXISTS ${SHARD_IDENTITY_TABLE} (
  singleton TINYINT NOT NULL PRIMARY KEY,
  shard_id VARCHAR(255) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL,
  created_at DATETIME(6) NOT NULL
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci`;
}
