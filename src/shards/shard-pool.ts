/**
 * One shard = one MySQL server (and database). This module owns its
 * connection pools: an `ingest` Knex for the write transactions of ingest
 * (several statements per round trip), a `writer` Knex for DDL, retention
 * and federation staging, and a `reader` Knex whose sessions are READ ONLY
 * with a statement time limit, for users' SQL (on mysql2's own pool, the
 * others on knex's tarn: see the constructor); the catalog has a pool of its
 * own ({@link createCatalogKnex}). Every statement has a client-side deadline
 * (shards/connection.ts guardStatements), so a hung server cannot hold a
 * connection for longer than write_timeout_ms (query_timeout_ms plus a margin
 * on readers), and {@link ShardPool.kill} ends a server thread from another
 * connection. It also bootstraps
 * the shard (database, raw_logs, idempotency table) lazily, so a shard that is down at start-up joins when it comes back.
 * It must not decide placement or know about families.
 */
import knexFactory, { type Knex } from 'knex';
import type mysql from 'mysql2/promise';
import mysqlCore, { setMaxParserCache } from 'mysql2';
import type { ShardConfig } from '../config/config.js';
import type { Logger } from '../logging/logger.js';
import { translateMysqlError } from '../errors/mysql-errors.js';
import { destroyConnection, guardStatements, openServerConnection, withTimeout, type ThreadKiller } from './connection.js';
import { quoteIdentifier } from '../schema/identifiers.js';
import { SHARD_IDENTITY_TABLE, idempotencyTableSql, shardIdentityTableSql } from '../schema/internal-tables.js';
import { refreshRawLogsView } from './raw-logs-view.js';
import { addRequestHashColumn } from './idempotency-store.js';
import type { ServerFlavor } from '../schema/type-mapping.js';

/**
 * Session settings for every connection: strict mode so bad values fail
 * instead of being truncated, UTC so DATETIME round-trips, utf8mb4 everywhere.
 * ANSI_QUOTES stays off: the seed's queries use double-quoted strings.
 */
const SQL_MODE = 'STRICT_ALL_TABLES,NO_ZERO_IN_DATE,NO_ZERO_DATE,ERROR_FOR_DIVISION_BY_ZERO,NO_ENGINE_SUBSTITUTION';

/** The statement that applies those settings to a new session (every pool's). */
const SESSION_SETTINGS_SQL = `SET SESSION sql_mode = '${SQL_MODE}', time_zone = '+00:00', NAMES utf8mb4`;

/** Options shared by all pools of a gateway process. */
export interface ShardPoolOptions {
  /** Connections per pool (ingest, writer and reader each); default 10. */
  poolMax: number;
  /** Statement time limit of reader sessions, in milliseconds. */
  queryTimeoutMs: number;
  /** Client-side deadline of a statement on the writer and ingest pools (and the catalog's), milliseconds; default 30000. */
  writeTimeoutMs?: number;
  logger: Logger;
  /**
   * MySQL user of the reader sessions (users' SQL) instead of the shard's own,
   * one that can only SELECT (--reader_username/--reader_password); it also
   * kills its own cancelled statements. Absent or null: the shard's user.
   */
  reader?: { readonly user: string; readonly password: string } | null;
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

/** Client-side deadline of a write when none is configured, milliseconds. */
const DEFAULT_WRITE_TIMEOUT_MS = 30_000;

/**
 * How much later than the server's own statement time limit a reader's
 * client-side deadline falls, so a live server answers with its own timeout
 * error first, milliseconds.
 */
export const QUERY_DEADLINE_MARGIN_MS = 2000;

/**
 * Row parsers mysql2 keeps compiled, one per distinct result column list
 * (its default is 15,000): users' SQL chooses the names (query/run-select.ts).
 */
const ROW_PARSER_CACHE = 1000;
setMaxParserCache(ROW_PARSER_CACHE);

/** Connect timeout of the side connection that sends a KILL, milliseconds. */
const KILL_CONNECT_TIMEOUT_MS = 2000;

type AfterCreate = (conn: RawConnection, done: (error: Error | null, conn: RawConnection) => void) => void;

/** knex afterCreate hook of the writer, ingest and catalog pools: strict mode, UTC, utf8mb4, a write deadline. */
function writeSessionSetUp(timeoutMs: number, kill: ThreadKiller): AfterCreate {
  return (conn, done) => {
    runRaw(conn, SESSION_SETTINGS_SQL).then(
      () => {
        guardStatements(conn, 'write', timeoutMs, kill);
        done(null, conn);
      },
      (error: Error) => done(error, conn),
    );
  };
}

/** mysql2 connection settings of `config` shared by every pool. */
function connectionSettings(config: ShardConfig) {
  return {
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
}

/** knex's log hooks, routed to `logger`. */
function knexLog(logger: Logger) {
  return {
    warn: (message: unknown) => logger.debug({ knex: message }, 'knex warning'),
    error: (message: unknown) => logger.warn({ knex: message }, 'knex error'),
    deprecate: (message: unknown) => logger.debug({ knex: message }, 'knex deprecation'),
    debug: (message: unknown) => logger.trace({ knex: message }, 'knex debug'),
  };
}

/** The callback connection under a mysql2/promise one. */
function coreOf(connection: mysql.Connection): unknown {
  return (connection as unknown as { connection: unknown }).connection;
}

/**
 * Kills thread `threadId` of the server of `config` from a fresh connection
 * (`KILL CONNECTION`: the statement and the session end); never rejects. A
 * hung server is given up on after the connect timeout.
 */
export async function killThread(config: ShardConfig, threadId: number, logger: Logger): Promise<void> {
  let connection: mysql.Connection | undefined;
  try {
    connection = await openServerConnection(config, KILL_CONNECT_TIMEOUT_MS);
    await withTimeout(connection.query(`KILL CONNECTION ${Math.trunc(threadId)}`), KILL_CONNECT_TIMEOUT_MS);
  } catch (error) {
    // ER_NO_SUCH_THREAD: it had already ended.
    if ((error as { errno?: unknown }).errno !== 1094) logger.warn({ err: error, threadId }, 'could not kill a cancelled statement on the server');
  } finally {
    if (connection !== undefined) destroyConnection(coreOf(connection));
  }
}

/**
 * The catalog's own pool (never shared with users' queries, staging or DDL,
 * so a saturated shard does not stop placements): writer sessions on the
 * catalog's database, with the write deadline.
 */
export function createCatalogKnex(config: ShardConfig, options: ShardPoolOptions): Knex {
  const logger = options.logger.child({ shard: config.id, pool: 'catalog' });
  return knexFactory({
    client: 'mysql2',
    connection: connectionSettings(config),
    acquireConnectionTimeout: 10_000,
    log: knexLog(logger),
    pool: {
      min: 0,
      max: options.poolMax,
      idleTimeoutMillis: 30_000,
      afterCreate: writeSessionSetUp(options.writeTimeoutMs ?? DEFAULT_WRITE_TIMEOUT_MS, (id) => killThread(config, id, logger)),
    },
  });
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
  /** The native pool under {@link reader} (knex does not own it: {@link close} ends it). */
  private readonly readerPool: mysqlCore.Pool;
  /**
   * Ingest writes only: its sessions allow several statements per round trip,
   * so a whole write transaction (START TRANSACTION; INSERT ...; COMMIT) costs
   * one round trip. It only ever runs SQL the gateway builds itself (escaped
   * values, quoted identifiers); users' SQL never reaches it.
   */
  readonly ingest: Knex;
  private readonly logger: Logger;
  private readonly shardTables: boolean;
  private readonly writeTimeoutMs: number;
  private lastAuthWarning = 0;
  private info: ServerInfo | undefined;
  private bootstrapping: Promise<ServerInfo> | undefined;

  constructor(config: ShardConfig, options: ShardPoolOptions) {
    this.id = config.id;
    this.config = config;
    this.logger = options.logger.child({ shard: config.id });
    this.shardTables = options.shardTables ?? true;
    this.writeTimeoutMs = options.writeTimeoutMs ?? DEFAULT_WRITE_TIMEOUT_MS;
    const connection = connectionSettings(config);
    const base = {
      client: 'mysql2',
      connection,
      acquireConnectionTimeout: 10_000,
      log: knexLog(this.logger),
    };
    const kill: ThreadKiller = (threadId) => this.kill(threadId);
    const setUpWriteSession = writeSessionSetUp(options.writeTimeoutMs ?? DEFAULT_WRITE_TIMEOUT_MS, kill);
    const readDeadlineMs = options.queryTimeoutMs + QUERY_DEADLINE_MARGIN_MS;
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
    const readerUser = options.reader ?? null;
    // A user may always kill its own threads; another user's need CONNECTION ADMIN.
    const killReader: ThreadKiller =
      readerUser === null ? kill : (threadId) => killThread({ ...this.config, user: readerUser.user, password: readerUser.password }, threadId, this.logger);
    // mysql2's own pool under the reader's knex (knex's connectionPool): a user's query borrows and
    // returns a connection without tarn's two timed pending operations and their promises. The writer,
    // ingest and catalog pools stay on tarn.
    this.readerPool = mysqlCore.createPool({
      ...(readerUser === null ? connection : { ...connection, user: readerUser.user, password: readerUser.password }),
      connectionLimit: options.poolMax,
      maxIdle: 0,
      idleTimeout: 30_000,
      waitForConnections: true,
    });
    this.readerPool.on('connection', (conn) => this.setUpReaderSession(conn, options.queryTimeoutMs, readDeadlineMs, killReader));
    this.reader = knexFactory({ client: base.client, log: base.log, connectionPool: this.readerPool } as Knex.Config);
  }

  /**
   * A new reader connection's session, queued before the statement it was
   * borrowed for (mysql2 runs a connection's statements in order): strict
   * mode, UTC, utf8mb4, the statement time limit, READ ONLY, and the
   * client-side deadline. A setting the server refuses closes the
   * connection, so nothing queued after it runs on a session without it.
   */
  private setUpReaderSession(conn: mysqlCore.PoolConnection, queryTimeoutMs: number, deadlineMs: number, kill: ThreadKiller): void {
    guardStatements(conn, 'query', deadlineMs, kill);
    // The reader is used only once the shard is bootstrapped (withShard), so its flavor is known; else the handshake's version says.
    const version = this.info?.version ?? (conn as unknown as { _handshakePacket?: { serverVersion?: string } | null })._handshakePacket?.serverVersion ?? '';
    const refused = (error: Error | null): void => {
      if (error === null) return;
      this.logger.warn({ err: error }, 'a reader session setting was refused; the connection is closed');
      destroyConnection(conn);
    };
    conn.query(SESSION_SETTINGS_SQL, refused);
    conn.query(statementTimeLimitSql(this.info?.flavor ?? flavorOfVersion(version), queryTimeoutMs), refused);
    // Second line of defence behind the SQL validator: this session cannot write.
    conn.query('SET SESSION TRANSACTION READ ONLY', refused);
  }

  /** Kills server thread `threadId` of this shard from a fresh connection (see {@link killThread}); never rejects. */
  kill(threadId: number): Promise<void> {
    return killThread(this.config, threadId, this.logger);
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
          const translated = translateMysqlError(error, { shard: this.id });
          if (translated.details['reason'] === 'authentication_failed') this.warnAuthenticationFailed(translated.message);
          throw translated;
        },
      );
    }
    return this.bootstrapping;
  }

  /**
   * Logs refused credentials (at most once a minute per shard): the user and
   * address, never the password.
   */
  private warnAuthenticationFailed(message: string): void {
    const now = Date.now();
    if (now - this.lastAuthWarning < 60_000) return;
    this.lastAuthWarning = now;
    this.logger.warn({ user: this.config.user, address: this.address, reason: 'authentication_failed' }, message);
  }

  private async bootstrap(): Promise<ServerInfo> {
    const connection = await openServerConnection(this.config, 5000);
    // A server that hangs after accepting the connection must not hold every request that waits for the bootstrap.
    const deadline = setTimeout(() => destroyConnection(coreOf(connection)), this.writeTimeoutMs);
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
      clearTimeout(deadline);
      await withTimeout(connection.end(), 1000).catch(() => destroyConnection(coreOf(connection)));
    }
  }

  private async createShardTables(connection: mysql.Connection): Promise<void> {
    await refreshRawLogsView((sql, values) => connection.query(sql, values as unknown[]), this.config.database, Math.max(1, Math.ceil(this.writeTimeoutMs / 1000)));
    await connection.query(idempotencyTableSql());
    await addRequestHashColumn((sql, values) => connection.query(sql, values));
    await this.recordIdentity(connection);
  }

  /**
   * Records this shard's id in its database the first time (first writer
   * wins), so a later start that spells the address differently finds the
   * same id (shards/shard-identity.ts). A database recorded under another id
   * is logged: it belongs to another shard, or this shard was renamed.
   */
  private async recordIdentity(connection: mysql.Connection): Promise<void> {
    await connection.query(shardIdentityTableSql());
    await connection.query(`INSERT IGNORE INTO ${SHARD_IDENTITY_TABLE} (singleton, shard_id, created_at) VALUES (1, ?, UTC_TIMESTAMP(6))`, [this.id]);
    const [rows] = (await connection.query(`SELECT shard_id FROM ${SHARD_IDENTITY_TABLE} WHERE singleton = 1`)) as unknown as [Array<{ shard_id: string }>];
    const recorded = rows[0]?.shard_id;
    if (recorded !== undefined && recorded !== this.id) {
      this.logger.error(
        { recorded },
        `the database of shard "${this.id}" was first bootstrapped as shard "${recorded}"; if it is that shard, name it ${recorded}= in --shards`,
      );
    }
  }

  /** Destroys every pool of this shard. */
  async close(): Promise<void> {
    await Promise.allSettled([
      this.writer.destroy(),
      this.reader.destroy(),
      this.ingest.destroy(),
      new Promise<void>((resolve) => this.readerPool.end(() => resolve())),
    ]);
  }
}
