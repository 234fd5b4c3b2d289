/**
 * Ingest use case: validate a whole request first (family, schema, every
 * event), then make the family's table ready, then write the typed rows and
 * their raw_logs copies in one transaction on the family's shard. A rejected
 * request writes nothing anywhere. Knows nothing of HTTP.
 */
import { createHash } from 'node:crypto';
import { buildInsertStatements } from '../ingest/insert-sql.js';
import { eventSpans } from '../ingest/event-spans.js';
import { statementOf, type StatementParts } from '../shards/write-transaction.js';
import { idempotencyCutoff, recordKeySql, type IdempotencyEntry } from '../shards/idempotency-store.js';
import type { Logger } from '../logging/logger.js';
import { AppError, badInput } from '../errors/app-error.js';
import { isDuplicateKeyError } from '../errors/mysql-errors.js';
import { validateFamilyName, RAW_COLUMN, INGESTED_AT_COLUMN } from '../schema/identifiers.js';
import { mergeSchemas, parseDeclaredSchema, type DeclaredField } from '../schema/declared-schema.js';
import { eventTuples } from '../ingest/event-literals.js';
import { quoteString } from '../schema/sql-literal.js';
import type { ShardManager } from '../shards/shard-manager.js';
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
  /** Where `logs` sits in `sourceText`: the top-level `logs` by default; a GraphQL body's variable is `['variables', name]`. */
  sourcePath?: readonly string[] | undefined;
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
  /** With an Idempotency-Key: SHA-256 (hex) of the family, the declared fields and each event's JSON text. */
  requestHash: string | undefined;
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
   * INVALID_VALUE, TOO_MANY_COLUMNS, BAD_USER_INPUT, INVALID_JSON (400),
   * SCHEMA_CONFLICT (409), IDEMPOTENCY_KEY_REUSED (422), SHARD_UNAVAILABLE (503).
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
    // First, before any member is read: an object with a key twice (INVALID_JSON).
    const sourceSpans = request.sourceText === undefined ? undefined : eventSpans(request.sourceText, request.sourcePath);
    const family = validateFamilyName(request.family);
    const fields = parseDeclaredSchema(request.schema, { maxColumns: this.options.maxColumns });
    const idempotencyKey = validateIdempotencyKey(request.idempotencyKey);
    const now = toSqlDateTime(this.options.clock());
    const nowLiteral = quoteString(now);
    // What makes two requests the same for an Idempotency-Key: family, declared fields, and each event's text.
    const digest = idempotencyKey === undefined ? undefined : createHash('sha256').update(`${JSON.stringify([family, fields])}\n`);
    const tuples = eventTuples(fields, request.logs, {
      suffix: [nowLiteral],
      inlineRaw: this.options.rawLogs,
      sourceText: request.sourceText,
      sourceSpans,
      digest,
    });
    this.logSeedLines(family, fields, request.logs as Array<Record<string, unknown>>);
    return {
      family,
      fields,
      count: tuples.typed.length,
      now,
      idempotencyKey,
      requestHash: digest?.digest('hex'),
      // One INSERT: the raw copy is the row's `_raw` column (raw_logs is a view over it).
      statements: buildInsertStatements(
        family,
        [...fields.map((f) => f.name), INGESTED_AT_COLUMN, ...(this.options.rawLogs ? [RAW_COLUMN] : [])],
        tuples.typed,
      ),
    };
  }

  /**
   * Makes the family's table ready and writes a prepared request in one
   * transaction on its shard; with an idempotency key, answers a retry as the
   * first request was answered instead. Rejects with SCHEMA_CONFLICT (409),
   * SHARD_UNAVAILABLE (503).
   */
  write(prepared: PreparedIngest): Promise<IngestResult> {
    // A move that switches the family meanwhile fails the write whole on the old shard: it runs again on the new one.
    return this.options.manager.onCurrentShard([prepared.family], () => this.writeOnce(prepared));
  }

  private async writeOnce(prepared: PreparedIngest): Promise<IngestResult> {
    const { manager, logger } = this.options;
    const { family, idempotencyKey: key } = prepared;
    const parts = await manager.partsOf(family);
    if (parts !== undefined && parts.length > 1) return this.writeSpread(prepared, parts.map((part) => part.shard));
    // A key already applied is answered before any DDL: a reused key (422)
    // must not add the other request's columns, and a retry needs none.
    let checkedOn: string | undefined;
    if (key !== undefined) {
      const home = await manager.shardOf(family);
      const earlier = home === undefined ? undefined : await manager.findIdempotentResponse(home, family, key, this.idempotencyCutoff());
      if (earlier !== undefined) {
        const replayed = replayOf(earlier, family, key, prepared.requestHash);
        // The same request: its fields are stored already, so this only reads them.
        const info = await manager.prepareIngest(family, prepared.fields);
        logger.info({ family, idempotencyKey: key }, 'idempotent replay: nothing written');
        return { ...replayed, columns: describeColumns(info.fields), replayed: true };
      }
      checkedOn = home;
    }
    const info = await manager.prepareIngest(family, prepared.fields);
    const described = describeColumns(info.fields);
    const stored: StoredResponse = { family, ingested: prepared.count, shard: info.shard };

    const outcome = await this.applyOnce(info.shard, prepared, stored, checkedOn === info.shard);
    if (outcome.replayed !== undefined) {
      logger.info({ family, idempotencyKey: key }, 'idempotent replay: nothing written');
      return { ...outcome.replayed, columns: described, replayed: true };
    }
    this.options.onIngested?.(family, info.shard, prepared.count);
    return { ...stored, columns: described, replayed: false };
  }

  /**
   * A spread family: the whole request goes to one part, the next in turn;
   * a part that cannot be reached (nothing of the request was applied
   * there) gives way to the next one. An Idempotency-Key is looked up on
   * every part first, since a retry may have been sent to another one.
   */
  private async writeSpread(prepared: PreparedIngest, shards: readonly string[]): Promise<IngestResult> {
    const { manager, logger } = this.options;
    const { family, idempotencyKey: key } = prepared;
    if (key !== undefined) {
      const cutoff = this.idempotencyCutoff();
      const found = await Promise.all(shards.map((shard) => manager.findIdempotentResponse(shard, family, key, cutoff)));
      const earlier = found.find((entry) => entry !== undefined);
      if (earlier !== undefined) {
        const replayed = replayOf(earlier, family, key, prepared.requestHash);
        const columns = await manager.catalog.getColumns(family);
        logger.info({ family, idempotencyKey: key }, 'idempotent replay: nothing written');
        return { ...replayed, columns: describeColumns(mergeSchemas(columns, prepared.fields, this.options.maxColumns).merged), replayed: true };
      }
    }
    const failed = new Set<string>();
    for (;;) {
      const part = await manager.writePartOf(family, failed);
      if (part === undefined) throw new Error(`no part of ${family} to write into`);
      try {
        const info = await manager.prepareSpreadIngest(family, part, prepared.fields);
        const stored: StoredResponse = { family, ingested: prepared.count, shard: part };
        const outcome = await this.applyOnce(part, prepared, stored, key !== undefined);
        if (outcome.replayed !== undefined) return { ...outcome.replayed, columns: describeColumns(info.fields), replayed: true };
        this.options.onIngested?.(family, part, prepared.count);
        return { ...stored, columns: describeColumns(info.fields), replayed: false };
      } catch (error) {
        // Only where nothing can have been applied: the part was not reached at all.
        if (!isUnreachable(error) || failed.size + 1 >= shards.length) throw error;
        logger.warn({ family, shard: part }, 'part of a spread family unreachable; writing this request to another part');
        failed.add(part);
      }
    }
  }

  /**
   * Writes the prepared statements in one transaction on `shard`. With an
   * Idempotency-Key, the key is recorded in that same transaction, and a key
   * already applied (by this request's earlier try, or by a concurrent one
   * that committed first) answers the stored response instead, or 422 when
   * it was applied to another request. `checked`: the key was looked up on
   * this shard just before (and was not there).
   */
  private async applyOnce(
    shard: string,
    prepared: PreparedIngest,
    stored: StoredResponse,
    checked: boolean,
  ): Promise<{ replayed: StoredResponse | undefined }> {
    const { manager } = this.options;
    const { family, idempotencyKey: key, now } = prepared;
    if (key === undefined) {
      await manager.writeTransaction(shard, family, prepared.statements);
      return { replayed: undefined };
    }
    const hash = prepared.requestHash;
    const cutoff = this.idempotencyCutoff();
    const earlier = checked ? undefined : await manager.findIdempotentResponse(shard, family, key, cutoff);
    if (earlier !== undefined) return { replayed: replayOf(earlier, family, key, hash) };
    await manager.forgetExpiredIdempotencyKey(shard, family, key, cutoff);
    try {
      await manager.writeTransaction(shard, family, [statementOf(recordKeySql(family, key, JSON.stringify(stored), now, hash ?? null)), ...prepared.statements]);
    } catch (error) {
      // Another request with the same key committed first: answer as it did (or 422 if it was another request).
      if (isDuplicateKeyError(error)) {
        const winner = await manager.findIdempotentResponse(shard, family, key, cutoff);
        if (winner !== undefined) return { replayed: replayOf(winner, family, key, hash) };
      }
      throw error;
    }
    return { replayed: undefined };
  }

  /** Keys recorded before this time (DATETIME(6) text) have expired. */
  private idempotencyCutoff(): string {
    return idempotencyCutoff(this.options.clock(), this.options.idempotencyTtlSeconds);
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

/**
 * The stored answer to replay for `key`, when it was recorded for this same
 * request (same hash; an entry recorded before hashes were kept has none and
 * replays as before). Throws IDEMPOTENCY_KEY_REUSED (422) when the key was
 * applied to another request: nothing is written, the first request's
 * events stay as they were.
 */
function replayOf(entry: IdempotencyEntry, family: string, key: string, hash: string | undefined): StoredResponse {
  if (entry.requestHash !== null && hash !== undefined && entry.requestHash !== hash) {
    throw new AppError(
      'IDEMPOTENCY_KEY_REUSED',
      `the Idempotency-Key "${key.length > 100 ? `${key.slice(0, 100)}...` : key}" was already used for a different request to family "${family}" (other schema or events); nothing was written. Send a new key for a new request, or resend exactly the first request to get its answer`,
      { family, header: 'Idempotency-Key' },
    );
  }
  return JSON.parse(entry.response) as StoredResponse;
}

/** True for SHARD_UNAVAILABLE because the shard could not be reached (so no statement of the request ran there). */
function isUnreachable(error: unknown): boolean {
  return error instanceof AppError && error.code === 'SHARD_UNAVAILABLE' && (error.details as { reason?: unknown }).reason === 'unreachable';
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
