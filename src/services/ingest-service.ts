/**
 * Ingest use case: validate a whole request first (family, schema, every
 * event), then make the family's table ready, then write the typed rows and
 * their raw_logs copies in one transaction on the family's shard. A rejected
 * request writes nothing anywhere. Knows nothing of HTTP.
 */
import type { Knex } from 'knex';
import { escape } from 'mysql2';
import { buildInsertStatements, statementOf, transactionRoundTrips, type StatementParts } from '../ingest/insert-sql.js';
import { execute, withConnection } from '../query/run-select.js';
import type { Logger } from '../logging/logger.js';
import { AppError, badInput } from '../errors/app-error.js';
import { isDuplicateKeyError } from '../errors/mysql-errors.js';
import { validateFamilyName, RAW_LOGS_TABLE, INGESTED_AT_COLUMN } from '../schema/identifiers.js';
import { parseDeclaredSchema, type DeclaredField } from '../schema/declared-schema.js';
import { eventTuples } from '../ingest/event-literals.js';
import { quoteString } from '../schema/sql-literal.js';
import type { ShardManager } from '../shards/shard-manager.js';
import { DEFAULT_MAX_ALLOWED_PACKET, IDEMPOTENCY_TABLE } from '../shards/shard-pool.js';
import { describeColumns, type ColumnDescription } from '../schema/columns.js';
import type { Clock } from './clock.js';
import { toSqlDateTime } from '../schema/time.js';

/** What a client sends to ingest (REST body or GraphQL arguments). */
export interface IngestRequest {
  family: unknown;
  schema: unknown;
  logs: unknown;
  /** Idempotency-Key: a retry with the same key for the same family is answered, not applied again. */
  idempotencyKey?: string | undefined;
  /** The JSON text `logs` was parsed from, when the caller has it: raw_logs then stores each event's own text. */
  sourceText?: string | undefined;
}

/** What ingest answers. `family`, `ingested` and `shard` are the seed-compatible keys. */
export interface IngestResult {
  family: string;
  ingested: number;
  shard: string;
  columns: ColumnDescription[];
  /** True when this answer replays an earlier request with the same Idempotency-Key. */
  replayed: boolean;
}

/** A request validated and turned into SQL by {@link IngestService.prepare}; holds nothing of the parsed events. */
export interface PreparedIngest {
  family: string;
  fields: DeclaredField[];
  /** Events in the request. */
  count: number;
  /** Ingestion time of every row, `YYYY-MM-DD HH:MM:SS.ffffff` UTC. */
  now: string;
  idempotencyKey: string | undefined;
  /** INSERT statements of the typed rows, then of their raw_logs copies. */
  statements: StatementParts[];
}

/** Settings of the ingest service. */
export interface IngestServiceOptions {
  manager: ShardManager;
  logger: Logger;
  clock: Clock;
  maxColumns: number;
  /** Keep the lossless JSON copy in raw_logs (default true). */
  rawLogs: boolean;
  idempotencyTtlSeconds: number;
  /** Called after every successful write (metrics). */
  onIngested?: (family: string, shard: string, rows: number) => void;
}

const MAX_IDEMPOTENCY_KEY_LENGTH = 255;

interface StoredResponse {
  family: string;
  ingested: number;
  shard: string;
}

/** Validates and writes log events. */
export class IngestService {
  private readonly options: IngestServiceOptions;

  constructor(options: IngestServiceOptions) {
    this.options = options;
  }

  /**
   * Ingests one request: {@link prepare}, then {@link write}. Rejects with
   * INVALID_FAMILY_NAME, INVALID_SCHEMA, INVALID_FIELD_NAME, UNDECLARED_FIELD,
   * INVALID_VALUE, TOO_MANY_COLUMNS, BAD_USER_INPUT (400), SCHEMA_CONFLICT
   * (409), SHARD_UNAVAILABLE (503).
   */
  ingest(request: IngestRequest): Promise<IngestResult> {
    // Not async: nothing here keeps `request` (and its events) alive while the write waits.
    let prepared: PreparedIngest;
    try {
      prepared = this.prepare(request);
    } catch (error) {
      return Promise.reject(error);
    }
    return this.write(prepared);
  }

  /**
   * Validates a whole request and writes its rows and raw_logs copies as SQL
   * text, synchronously and before anything touches a database. The result
   * holds no reference to the parsed events, so a caller can drop them while
   * the write waits on the server (1000 wide events are megabytes that every
   * garbage collection in the meantime would otherwise copy).
   * Throws the 400s of {@link ingest}.
   */
  prepare(request: IngestRequest): PreparedIngest {
    const family = validateFamilyName(request.family);
    const fields = parseDeclaredSchema(request.schema, { maxColumns: this.options.maxColumns });
    const now = toSqlDateTime(this.options.clock());
    const nowLiteral = quoteString(now);
    const tuples = eventTuples(fields, request.logs, {
      suffix: [nowLiteral],
      rawSuffix: this.options.rawLogs ? [quoteString(family), nowLiteral] : undefined,
      sourceText: request.sourceText,
    });
    const idempotencyKey = validateIdempotencyKey(request.idempotencyKey);
    this.logSeedLines(family, fields, request.logs as Array<Record<string, unknown>>);
    return {
      family,
      fields,
      count: tuples.typed.length,
      now,
      idempotencyKey,
      statements: [
        ...buildInsertStatements(family, [...fields.map((f) => f.name), INGESTED_AT_COLUMN], tuples.typed),
        ...buildInsertStatements(RAW_LOGS_TABLE, ['log', 'family', INGESTED_AT_COLUMN], tuples.raw),
      ],
    };
  }

  /**
   * Makes the family's table ready and writes a prepared request in one
   * transaction on its shard; with an idempotency key, answers a retry as the
   * first request was answered instead. Rejects with SCHEMA_CONFLICT (409),
   * SHARD_UNAVAILABLE (503).
   */
  async write(prepared: PreparedIngest): Promise<IngestResult> {
    const { manager, logger } = this.options;
    const { family, idempotencyKey: key, now } = prepared;
    const info = await manager.prepareIngest(family, prepared.fields);
    const described = describeColumns(info.fields);
    const stored: StoredResponse = { family, ingested: prepared.count, shard: info.shard };

    const outcome = await manager.withShard(info.shard, family, async (pool) => {
      if (key !== undefined) {
        const earlier = await this.findApplied(pool.writer, family, key);
        if (earlier !== undefined) return { replayed: earlier };
        // An expired entry for this key is removed outside the write
        // transaction: inside it, the DELETE's next-key lock (taken even when
        // nothing matches) made concurrent retries of one key deadlock on the
        // INSERT below instead of one of them hitting the duplicate key.
        await pool.writer.raw(`DELETE FROM ${IDEMPOTENCY_TABLE} WHERE family = ? AND idem_key = ? AND created_at < ?`, [
          family,
          key,
          toSqlDateTime(new Date(this.options.clock().getTime() - this.options.idempotencyTtlSeconds * 1000)),
        ]);
      }
      const statements =
        key === undefined
          ? prepared.statements
          : [
              statementOf(
                `INSERT INTO ${IDEMPOTENCY_TABLE} (family, idem_key, response, created_at) VALUES (${escape(family)}, ${escape(key)}, ${escape(JSON.stringify(stored))}, ${escape(now)})`,
              ),
              ...prepared.statements,
            ];
      try {
        await writeInTransaction(pool.ingest, statements, (await pool.ready()).maxAllowedPacket);
      } catch (error) {
        // Another request with the same key committed first: answer as it did.
        if (key !== undefined && isDuplicateKeyError(error)) {
          const earlier = await this.findApplied(pool.writer, family, key);
          if (earlier !== undefined) return { replayed: earlier };
        }
        throw error;
      }
      return { replayed: undefined };
    });

    if (outcome.replayed !== undefined) {
      logger.info({ family, idempotencyKey: key }, 'idempotent replay: nothing written');
      return { ...outcome.replayed, columns: described, replayed: true };
    }
    this.options.onIngested?.(family, info.shard, prepared.count);
    return { ...stored, columns: described, replayed: false };
  }

  private async findApplied(knex: Knex, family: string, key: string): Promise<StoredResponse | undefined> {
    const cutoff = toSqlDateTime(new Date(this.options.clock().getTime() - this.options.idempotencyTtlSeconds * 1000));
    const [rows] = (await knex.raw(
      `SELECT response FROM ${IDEMPOTENCY_TABLE} WHERE family = ? AND idem_key = ? AND created_at >= ?`,
      [family, key, cutoff],
    )) as [Array<{ response: string }>];
    const row = rows[0];
    return row === undefined ? undefined : (JSON.parse(row.response) as StoredResponse);
  }

  /** The seed's per-request and per-event log lines, at debug level only. */
  private logSeedLines(family: string, fields: ReadonlyArray<{ name: string; type: string }>, events: Array<Record<string, unknown>>): void {
    const { logger } = this.options;
    if (!logger.isLevelEnabled('debug')) return;
    logger.debug(`Received logs for the ${family} log family`);
    for (const field of fields) logger.debug(`Log values for the field ${field.name} of the ${family} log will be of type ${field.type}`);
    for (const event of events) {
      logger.debug(`Handling a new log event for the ${family} log family`);
      for (const [name, value] of Object.entries(event)) {
        logger.debug(`The value of the ${name} field in the ${family} log event is ${typeof value === 'string' ? value : JSON.stringify(value)}`);
      }
    }
  }
}

/** Undefined or a non-empty key of at most 255 characters; else BAD_USER_INPUT. */
function validateIdempotencyKey(key: string | undefined): string | undefined {
  if (key === undefined) return undefined;
  if (key.length === 0 || key.length > MAX_IDEMPOTENCY_KEY_LENGTH) {
    throw badInput(`the Idempotency-Key must be 1-${MAX_IDEMPOTENCY_KEY_LENGTH} characters; send a UUID per logical request`, {
      header: 'Idempotency-Key',
    });
  }
  return key;
}

/** Room left in a packet for the protocol's own bytes (command byte and headers). */
const PACKET_SLACK_BYTES = 1024;

/**
 * Runs `statements` as one transaction on a multi-statement connection of
 * `knex`, in a single round trip unless the text is larger than one packet of
 * `maxPacketBytes` (the server's max_allowed_packet) can carry; then in
 * several, split between statements (transactionRoundTrips). The server stops
 * at the first failing statement, before COMMIT, so on any error the
 * transaction is rolled back and nothing of it stays.
 * @throws AppError PAYLOAD_TOO_LARGE, before sending anything, when one
 *   statement alone (one huge row) is larger than a packet.
 */
export async function writeInTransaction(
  knex: Knex,
  statements: readonly StatementParts[],
  maxPacketBytes = DEFAULT_MAX_ALLOWED_PACKET,
): Promise<void> {
  const packetBytes = maxPacketBytes - PACKET_SLACK_BYTES;
  // A character is at most 3 UTF-8 bytes: texts this short always fit.
  const safeChars = Math.floor(packetBytes / 3);
  const roundTrips = transactionRoundTrips(statements, safeChars);
  for (const text of roundTrips) {
    const bytes = text.length > safeChars ? Buffer.byteLength(text, 'utf8') : 0;
    if (bytes > packetBytes) {
      throw new AppError(
        'PAYLOAD_TOO_LARGE',
        `an event in this request is too large for the shard: the INSERT holding it is ${bytes} bytes, more than the server's max_allowed_packet (${maxPacketBytes} bytes); shrink the event, or raise max_allowed_packet on the server`,
        { statementBytes: bytes, maxAllowedPacket: maxPacketBytes },
      );
    }
  }
  if (roundTrips.length === 0) return;
  await withConnection(knex, async (connection) => {
    try {
      for (const text of roundTrips) await execute(connection, text);
    } catch (error) {
      await execute(connection, 'ROLLBACK').catch(() => undefined);
      throw error;
    }
  });
}
