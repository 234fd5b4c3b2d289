/**
 * One shard = one MySQL server (and database). This module owns its
 * connection pools: an `ingest` Knex for the write transactions of ingest
 * (several statements per round trip), a `writer` Knex for DDL, catalog,
 * retention and federation staging, and a `reader` Knex whose sessions are
 * READ ONLY with a statement time limit, for users' SQL. It also bootstraps
 * the shard (database, raw_logs, idempotency table) lazily, so a shard that is down at start-up joins when it comes back.
 * It must not decide placement or know about families.
 */
import knexFactory, { type Knex } from 'knex';
import mysql from 'mysql2/promise';
import type { ShardConfig } from '../config/config.js';
import type { Logger } from '../logging/logger.js';
import { translateMysqlError } from '../errors/mysql-errors.js';
import { quoteIdentifier } from '../schema/identifiers.js';
import { idempotencyTableSql, rawLogsTableSql } from '../schema/internal-tables.js';
import { addRequestHashColumn } from './idempotency-store.js';
import type { ServerFlavor } from '../schema/type-mapping.js';

/**
 * Session settings for every connection: strict mode so bad values fail
 * instead of being truncated, UTC so DATETIME round-trips, utf8mb4 everywhere.
 * ANSI_QUOTES stays off: the seed's queries use double-quoted strings.
 */
const SQL_MODE = 'STRICT_ALL_TABLES,NO_ZERO_IN_DATE,NO_ZERO_DATE,ERROR_FOR_DIVISION_BY_ZERO,NO_ENGINE_SUBSTITUTION';

/** Options shared by all pools of a gateway process. */
export interface ShardPoolOptions {
  /** Connections per pool (ingest, writer and reader each); default 10. */
  poolMax: number;
  /** Statement time limit of reader sessions, in milliseconds. */
  queryTimeoutMs: number;
  logger: Logger;
  /** False for a catalog-only server: create the database but no raw_logs. Default true. */
  shardTables?: boolean;
}

/** What the server told us about itself on the first successful connection. */
export interface ServerInfo {
  flavor: ServerFlavor;
  version: string;
  /** The server's max_allowed_packet at bootstrap, bytes: the largest text one round trip may send. */
  maxAllowedPacket: number;
}

/** max_allowed_packet of MariaDB 10.2+ (MySQL 8 has 64 MiB), assumed when the server does not say. */
export const DEFAULT_MAX_ALLOWED_PACKET = 16 * 1024 * 1024;

/** Minimal callback-style connection as handed to knex's afterCreate hook. */
interface RawConnection {
  query(sql: string, callback: (error: Error | null, rows?: unknown) => void): void;
}

function runRaw(connection: RawConnection, sql: string): Promise<unknown> {
  return new Promise((resolve, reject) => {
    connection.query(sql, (error, rows) => (error ? reject(error) : resolve(rows)));
  });
}

/** knex afterCreate hook of the writer and ingest pools: strict mode, UTC, utf8mb4. */
function setUpWriteSession(conn: RawConnection, done: (error: Error | null, conn: RawConnection) => void): void {
  runRaw(conn, `SET SESSION sql_mode = '${SQL_MODE}', time_zone = '+00:00', NAMES utf8mb4`).then(
    () => done(null, conn),
    (error: Error) => done(error, conn),
  );
}

/** Parses `SELECT VERSION()` output: MariaDB says so in the version string. */
export function flavorOfVersion(version: string): ServerFlavor {
  return /mariadb/i.test(version) ? 'mariadb' : 'mysql';
}

/**
 * The SQL that sets a session statement time limit: MariaDB counts seconds in
 * max_statement_time (any statement), MySQL milliseconds in max_execution_time
 * (read-only SELECTs only, which is all the reader runs).
 * Example: ('mariadb', 1500) -> 'SET SESSION max_statement_time = 1.5'.
 */
export function statementTimeLimitSql(flavor: ServerFlavor, ms: number): string {
  return flavor === 'mariadb'
    ? `SET SESSION max_statement_time = ${ms / 1000}`
    : `SET SESSION max_execution_time = ${Math.round(ms)}`;
}

/** One shard's pools and bootstrap state. */
export class ShardPool {
  readonly id: string;
  readonly config: ShardConfig;
  readonly writer: Knex;
  readonly reader: Knex;
  /**
   * Ingest writes only: its sessions allow several statements per round trip,
   * so a whole write transaction (START TRANSACTION; INSERT ...; COMMIT) costs
   * one round trip. It only ever runs SQL the gateway builds itself (escaped
   * values, quoted identifiers); users' SQL never reaches it.
   */
  readonly ingest: Knex;
  private readonly logger: Logger;
  private readonly shardTables: boolean;
  private info: ServerInfo | undefined;
  private bootstrapping: Promise<ServerInfo> | undefined;

  constructor(config: ShardConfig, options: ShardPoolOptions) {
    this.id = config.id;
    this.config = config;
    this.logger = options.logger.child({ shard: config.id });
    this.shardTables = options.shardTables ?? true;
    const log = {
      warn: (message: unknown) => this.logger.debug({ knex: message }, 'knex warning'),
      error: (message: unknown) => this.logger.warn({ knex: message }, 'knex error'),
      deprecate: (message: unknown) => this.logger.debug({ knex: message }, 'knex deprecation'),
      debug: (message: unknown) => this.logger.trace({ knex: message }, 'knex debug'),
    };
    const connection = {
      host: config.host,
      port: config.port,
      user: config.user,
      password: config.password,
      database: config.database,
      charset: 'utf8mb4_unicode_ci',
      timezone: 'Z',
      dateStrings: true,
      supportBigNumbers: true,
      bigNumberStrings: false,
      connectTimeout: 5000,
    };
    const base = {
      client: 'mysql2',
      connection,
      acquireConnectionTimeout: 10_000,
      log,
    };
    this.writer = knexFactory({
      ...base,
      pool: {
        min: 0,
        max: options.poolMax,
        idleTimeoutMillis: 30_000,
        afterCreate: setUpWriteSession,
      },
    });
    this.ingest = knexFactory({
      ...base,
      // No placeholders are ever used here, and mysql2 would otherwise scan
      // every (megabyte-sized) INSERT text for `?` on each call.
      connection: { ...connection, multipleStatements: true, queryFormat: (sql: string) => sql },
      pool: {
        min: 0,
        max: options.poolMax,
        idleTimeoutMillis: 30_000,
        afterCreate: setUpWriteSession,
      },
    });
    this.reader = knexFactory({
      ...base,
      pool: {
        min: 0,
        max: options.poolMax,
        idleTimeoutMillis: 30_000,
        afterCreate: (conn: RawConnection, done: (error: Error | null, conn: RawConnection) => void) => {
          const setUp = async (): Promise<void> => {
            await runRaw(conn, `SET SESSION sql_mode = '${SQL_MODE}', time_zone = '+00:00', NAMES utf8mb4`);
            const rows = (await runRaw(conn, 'SELECT VERSION() AS v')) as Array<{ v: string }>;
            const flavor = flavorOfVersion(rows[0]?.v ?? '');
            await runRaw(conn, statementTimeLimitSql(flavor, options.queryTimeoutMs));
            // Second line of defence behind the SQL validator: this session cannot write.
            await runRaw(conn, 'SET SESSION TRANSACTION READ ONLY');
          };
          setUp().then(() => done(null, conn), (error: Error) => done(error, conn));
        },
      },
    });
  }

  /** `host:port` of the server, never with credentials. */
  get address(): string {
    return `${this.config.host}:${this.config.port}`;
  }

  /** Server flavor and version once known (after the first successful bootstrap). */
  get serverInfo(): ServerInfo | undefined {
    return this.info;
  }

  /**
   * Makes sure the database, raw_logs and the idempotency table exist, and
   * learns the server flavor. Runs once per process while it succeeds;
   * a failure (shard down) is retried on the next call.
   * Throws SHARD_UNAVAILABLE when the server cannot be reached.
   */
  ready(): Promise<ServerInfo> {
    if (this.info !== undefined) return Promise.resolve(this.info);
    if (this.bootstrapping === undefined) {
      this.bootstrapping = this.bootstrap().then(
        (info) => {
          this.info = info;
          return info;
        },
        (error: unknown) => {
          this.bootstrapping = undefined;
          throw translateMysqlError(error, { shard: this.id });
        },
      );
    }
    return this.bootstrapping;
  }

  private async bootstrap(): Promise<ServerInfo> {
    const connection = await mysql.createConnection({
      host: this.config.host,
      port: this.config.port,
      user: this.config.user,
      password: this.config.password,
      connectTimeout: 5000,
    });
    try {
      const [rows] = await connection.query('SELECT VERSION() AS v, @@global.max_allowed_packet AS p');
      const row = (rows as Array<{ v: string; p: number | string }>)[0];
      const version = String(row?.v ?? '');
      const maxAllowedPacket = Number(row?.p ?? DEFAULT_MAX_ALLOWED_PACKET) || DEFAULT_MAX_ALLOWED_PACKET;
      const flavor = flavorOfVersion(version);
      await connection.query(
        `CREATE DATABASE IF NOT EXISTS ${quoteIdentifier(this.config.database)} CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci`,
      );
      await connection.query(`USE ${quoteIdentifier(this.config.database)}`);
      if (this.shardTables) await this.createShardTables(connection);
      this.logger.info({ version, flavor }, `Connected to MySQL as ${this.config.user} at ${this.address}`);
      return { flavor, version, maxAllowedPacket };
    } finally {
      await connection.end().catch(() => undefined);
    }
  }

  private async createShardTables(connection: mysql.Connection): Promise<void> {
    await connection.query(rawLogsTableSql());
    await connection.query(idempotencyTableSql());
    await addRequestHashColumn((sql, values) => connection.query(sql, values));
  }

  /** Destroys every pool of this shard. */
  async close(): Promise<void> {
    await Promise.allSettled([this.writer.destroy(), this.reader.destroy(), this.ingest.destroy()]);
  }
}
