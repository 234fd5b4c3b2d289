/**
 * osquery-native ingest and schemaless JSON logs (docs/osquery.md):
 *
 * - osquery's TLS remote API: enrollment with a shared secret (node keys
 *   live in the catalog, so any gateway process accepts a key another
 *   issued) and the TLS logger's result/status batches;
 * - shippers forwarding osqueryd's results log (NDJSON or a JSON array);
 * - JSON events without a declared schema (types inferred).
 *
 * Each family a request touches is written in one transaction
 * (IngestService.write): all of its rows or none. Columns are decided
 * without a schema and never conflict: a family's stored types win, only new
 * columns are added (ShardManager.prepareLenientIngest). Knows nothing of HTTP.
 *
 * Access: before anything is written (catalog included), the transport's
 * {@link BeforeWrite} hook gets every family the request will write (after
 * naming: the query name's family, or its hashed one) and the row count;
 * {@link accessGuard} checks them against the token's family patterns (403)
 * and charges events_per_minute (429). osqueryd's TLS API has no token (the
 * enroll secret and node keys protect it), so no family patterns apply there.
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { AppError, badInput } from '../errors/app-error.js';
import type { Logger } from '../logging/logger.js';
import { batchDeclaredFields, buildOsqueryStatements, groupOsqueryRecords, type OsqueryFamilyBatch } from '../ingest/osquery-batch.js';
import { parseJsonArrayLossless, parseJsonLossless } from '../ingest/osquery-json.js';
import { osqueryErrorsToAppError, parseOsqueryLines, parseOsqueryTlsBody, type OsqueryRecord, type ParsedOsqueryLog } from '../ingest/osquery-records.js';
import { isPlainObject, mergeSchemas, parseDeclaredSchema } from '../schema/declared-schema.js';
import { columnNameKey, validateFamilyName } from '../schema/identifiers.js';
import { inferSchema } from '../schema/infer-types.js';
import { osqueryFamilyName } from '../schema/osquery-names.js';
import { toSqlDateTime } from '../schema/time.js';
import type { ShardManager } from '../shards/shard-manager.js';
import type { AccessService, Principal } from './access-service.js';
import type { Clock } from './clock.js';
import type { IngestResult, IngestService } from './ingest-service.js';

/** Settings of the osquery service. */
export interface OsqueryServiceOptions {
  manager: ShardManager;
  ingest: IngestService;
  logger: Logger;
  clock: Clock;
  maxColumns: number;
  rawLogs: boolean;
  /** The enroll secret, or null (with enrollSecretFile null too: enrollment refused). */
  enrollSecret: string | null;
  /** A file holding the enroll secret, read once here. */
  enrollSecretFile?: string | null;
  /** Deepest JSON nesting of a record. */
  maxDepth: number;
}

/** What one family of an osquery request got. */
export interface OsqueryFamilyResult {
  family: string;
  /** The query name as sent (`osquery_status` for status logs). */
  originalName: string;
  ingested: number;
  shard: string;
  replayed: boolean;
}

/** The answer to a batch of osquery records. */
export interface OsqueryIngestResult {
  /** Rows written (or, for replayed families, written by the first request). */
  ingested: number;
  families: OsqueryFamilyResult[];
}

/** The enroll endpoint's answer, as osqueryd reads it. */
export type EnrollAnswer = { node_key: string; node_invalid: false } | { node_invalid: true; error: string };

/** The TLS logger endpoint's answer: `{}` when stored; node_invalid makes osqueryd enroll again. */
export type TlsLogAnswer = Record<string, never> | { node_invalid: true; error: string };

/**
 * Called once a request is validated, before anything is written anywhere:
 * with its row count and every family it writes (access checks, rate
 * limits). A throw writes nothing. May be called again with 0 rows and a
 * family decided later (another request claimed a name meanwhile), still
 * before that family is written.
 */
export type BeforeWrite = (rows: number, families: readonly string[]) => Promise<void>;

/**
 * The transports' hook: the principal must hold `ingest` for every family
 * (403 FORBIDDEN naming the first it lacks), then the rows are charged to its
 * events_per_minute (429 RATE_LIMITED; a refused request charges nothing).
 */
export function accessGuard(access: AccessService, principal: Principal): BeforeWrite {
  return async (rows, families) => {
    access.require(principal, 'ingest', families);
    await access.chargeEvents(principal, rows);
  };
}

/** A schemaless ingest request (POST /api/log/{family}, GraphQL ingestEvents). */
export interface SchemalessRequest {
  family: unknown;
  /** Events: a JSON array of objects. */
  events: unknown;
  /** An optional declared schema: wins for its fields. */
  schema?: unknown;
  idempotencyKey?: string | undefined;
  /** The JSON text of a `{"logs": [...]}` body, for the raw copies. */
  sourceText?: string | undefined;
}

const sha256 = (text: string): string => createHash('sha256').update(text).digest('hex');

/** The families a batch may go to, in order: its query name's family, then the hashed one. */
function familyCandidates(batch: OsqueryFamilyBatch): string[] {
  return [batch.family, osqueryFamilyName(batch.originalName, { hashed: true })];
}

function heldByOthers(batch: OsqueryFamilyBatch): AppError {
  return new AppError('INVALID_FAMILY_NAME', `the osquery query name "${batch.originalName.slice(0, 100)}" maps to families other queries hold; rename the query`, {
    name: batch.originalName.slice(0, 100),
  });
}

/** Most node keys remembered as valid per process (they never stop being valid). */
const NODE_CACHE_MAX = 10_000;

/** osquery's TLS API, shipper lines and schemaless JSON logs. */
export class OsqueryService {
  private readonly options: OsqueryServiceOptions;
  private readonly secretDigest: Buffer | null;
  /** SHA-256 of node keys known to be enrolled. */
  private readonly knownNodes = new Set<string>();
  /** family -> original name, as recorded in the catalog (never changes). */
  private readonly sources = new Map<string, string>();

  constructor(options: OsqueryServiceOptions) {
    this.options = options;
    let secret = options.enrollSecret;
    if (secret === null && options.enrollSecretFile != null) {
      try {
        secret = readFileSync(options.enrollSecretFile, 'utf8').trim();
      } catch (error) {
        throw new AppError(
          'CONFIG_INVALID',
          `--osquery_enroll_secret_file=${options.enrollSecretFile} cannot be read (${(error as NodeJS.ErrnoException).code ?? String(error)}); give a readable file holding the secret`,
          { flag: 'osquery_enroll_secret_file' },
        );
      }
      if (secret === '') {
        throw new AppError('CONFIG_INVALID', `--osquery_enroll_secret_file=${options.enrollSecretFile} is empty; write the enroll secret into it`, {
          flag: 'osquery_enroll_secret_file',
        });
      }
    }
    this.secretDigest = secret === null || secret === '' ? null : createHash('sha256').update(secret).digest();
  }

  /**
   * POST /api/osquery/enroll: `{"enroll_secret", "host_identifier", "host_details"}`.
   * The right secret gets a new node key, recorded in the catalog; a wrong or
   * missing one (or no secret configured) gets `node_invalid: true` and
   * nothing is stored. Secrets are compared in constant time.
   * @throws AppError BAD_USER_INPUT when the body is not that object.
   */
  async enroll(body: unknown): Promise<EnrollAnswer> {
    if (!isPlainObject(body)) {
      throw badInput('the enroll body must be a JSON object {"enroll_secret": "...", "host_identifier": "...", "host_details": {...}}', {});
    }
    const given = body['enroll_secret'];
    if (this.secretDigest === null) {
      this.options.logger.warn('osquery enrollment refused: no --osquery_enroll_secret configured');
      return { node_invalid: true, error: 'enrollment is off on this gateway: start it with --osquery_enroll_secret or --osquery_enroll_secret_file' };
    }
    const givenDigest = createHash('sha256').update(typeof given === 'string' ? given : '').digest();
    if (typeof given !== 'string' || !timingSafeEqual(givenDigest, this.secretDigest)) {
      this.options.logger.warn({ hostIdentifier: String(body['host_identifier'] ?? '').slice(0, 255) }, 'osquery enrollment refused: wrong enroll secret');
      return { node_invalid: true, error: 'wrong enroll secret: give osqueryd the gateway\'s --osquery_enroll_secret (--enroll_secret_path)' };
    }
    const hostIdentifier = typeof body['host_identifier'] === 'string' ? body['host_identifier'] : '';
    const details = body['host_details'];
    const nodeKey = randomBytes(32).toString('base64url');
    const keyHash = sha256(nodeKey);
    await this.options.manager.catalog.recordOsqueryNode(keyHash, hostIdentifier, details === undefined ? null : JSON.stringify(details));
    this.remember(keyHash);
    this.options.logger.info({ hostIdentifier: hostIdentifier.slice(0, 255) }, 'osquery node enrolled');
    return { node_key: nodeKey, node_invalid: false };
  }

  /**
   * POST /api/osquery/log: the TLS logger's `{"node_key", "log_type", "data"}`.
   * An unknown node key answers `node_invalid: true` (osqueryd enrolls again)
   * and stores nothing. A re-sent buffer is stored once: each family's rows
   * carry an idempotency key derived from the node key and their content.
   * @throws AppError INVALID_JSON, BAD_USER_INPUT (any bad record: nothing written), SHARD_UNAVAILABLE.
   */
  async logTls(text: string, beforeWrite?: BeforeWrite): Promise<TlsLogAnswer> {
    const parsed = parseOsqueryTlsBody(text, { maxDepth: this.options.maxDepth });
    const keyHash = parsed.nodeKey === null || parsed.nodeKey === '' ? null : sha256(parsed.nodeKey);
    if (keyHash === null || !(await this.isEnrolled(keyHash))) {
      return { node_invalid: true, error: 'unknown node key: osqueryd enrolls again (POST /api/osquery/enroll)' };
    }
    if (parsed.errors.length > 0) throw osqueryErrorsToAppError(parsed.errors);
    const data = (parseJsonLossless(text, { maxDepth: this.options.maxDepth }) as { data: unknown[] }).data;
    await this.write(parsed, (record) => JSON.stringify(data[record.index]), (contentHash) => `osquery:${sha256(`${keyHash}\n${contentHash}`)}`, beforeWrite);
    return {};
  }

  /**
   * POST /api/osquery/results: osqueryd's results log as written to disk
   * (NDJSON), or one JSON array of records. With `idempotencyKey`, a retry
   * is answered without writing again (per family).
   * @throws AppError INVALID_JSON, BAD_USER_INPUT, INVALID_FIELD_NAME (nothing written), SHARD_UNAVAILABLE.
   */
  async ingestResults(text: string, idempotencyKey?: string, beforeWrite?: BeforeWrite): Promise<OsqueryIngestResult> {
    const parsed = parseOsqueryLines(text, { maxDepth: this.options.maxDepth });
    if (parsed.errors.length > 0) throw osqueryErrorsToAppError(parsed.errors);
    if (parsed.records.length === 0) throw badInput('no osquery records in the body; send the lines of osqueryd.results.log (NDJSON) or a JSON array of them', {});
    let rawOf: (record: OsqueryRecord) => string;
    if (/^\s*\[/.test(text)) {
      const values = parseJsonArrayLossless(text, { maxDepth: this.options.maxDepth }).value as unknown[];
      rawOf = (record) => JSON.stringify(values[record.index]);
    } else {
      const lines = text.split('\n');
      rawOf = (record) => (lines[record.line - 1] ?? '').trim();
    }
    return this.write(parsed, rawOf, idempotencyKey === undefined ? undefined : () => idempotencyKey, beforeWrite);
  }

  /**
   * Writes checked records: grouped by family, each family's name claimed in
   * the catalog (a family already holding another query's rows moves this
   * query to its hashed name), its columns prepared leniently, then one
   * transaction per family.
   */
  private async write(
    parsed: ParsedOsqueryLog,
    rawOf: (record: OsqueryRecord) => string,
    keyOf: ((contentHash: string) => string) | undefined,
    beforeWrite: BeforeWrite | undefined,
  ): Promise<OsqueryIngestResult> {
    const { manager, ingest, logger } = this.options;
    const batches = groupOsqueryRecords(parsed.records, rawOf);
    const rows = batches.reduce((n, b) => n + b.rows.length, 0);
    // Every family the request writes, decided without writing, checked before anything is claimed or written.
    const planned = await this.planFamilies(batches);
    await beforeWrite?.(rows, [...new Set(planned)]);
    const checked = new Set(planned);
    const allow = async (family: string): Promise<void> => {
      if (checked.has(family)) return;
      await beforeWrite?.(0, [family]);
      checked.add(family);
    };
    const now = toSqlDateTime(this.options.clock());
    const families: OsqueryFamilyResult[] = [];
    for (const batch of batches) {
      const family = await this.claimFamily(batch, allow);
      const info = await manager.prepareLenientIngest(family, batchDeclaredFields(batch));
      const built = buildOsqueryStatements(family, batch, info.fields, now, this.options.rawLogs);
      if (built.notes.length > 0) {
        logger.warn(
          { family, nulled: built.notes.filter((n) => n.change === 'nulled').length, truncated: built.notes.filter((n) => n.change === 'truncated').length, first: built.notes[0] },
          'osquery values not stored as sent (the raw copy keeps them)',
        );
      }
      const result: IngestResult = await ingest.write({
        family,
        fields: built.columns,
        count: batch.rows.length,
        now,
        idempotencyKey: keyOf?.(built.contentHash),
        requestHash: built.contentHash,
        statements: built.statements,
      });
      families.push({ family, originalName: batch.originalName, ingested: result.ingested, shard: result.shard, replayed: result.replayed });
    }
    return { ingested: families.reduce((n, f) => n + f.ingested, 0), families };
  }

  /**
   * The family each batch will go to, read from the catalog without writing:
   * its own name, or the hashed one when that name maps to another query
   * (in the catalog, or earlier in this request).
   * @throws AppError INVALID_FAMILY_NAME when both are held by other queries.
   */
  private async planFamilies(batches: readonly OsqueryFamilyBatch[]): Promise<string[]> {
    const { catalog } = this.options.manager;
    const inRequest = new Map<string, string>();
    const planned: string[] = [];
    for (const batch of batches) {
      let chosen: string | undefined;
      for (const family of familyCandidates(batch)) {
        let known = inRequest.get(family) ?? this.sources.get(family);
        if (known === undefined) {
          known = (await catalog.getFamilySource(family))?.originalName;
          // A recorded source never changes: remember it.
          if (known !== undefined) this.sources.set(family, known);
        }
        if (known === undefined || known === batch.originalName) {
          chosen = family;
          break;
        }
      }
      if (chosen === undefined) throw heldByOthers(batch);
      inRequest.set(chosen, batch.originalName);
      planned.push(chosen);
    }
    return planned;
  }

  /**
   * The family `batch` goes to: its own name, or the hashed one when that
   * name maps to another query already. `allow` runs before a family is
   * claimed (a name another request claimed since {@link planFamilies} moves
   * this query to a family not checked yet).
   */
  private async claimFamily(batch: OsqueryFamilyBatch, allow: (family: string) => Promise<void>): Promise<string> {
    const { catalog } = this.options.manager;
    for (const family of familyCandidates(batch)) {
      const known = this.sources.get(family);
      if (known === batch.originalName) {
        await allow(family);
        return family;
      }
      if (known !== undefined) continue;
      await allow(family);
      const source = await catalog.claimFamilySource(family, { kind: 'osquery', originalName: batch.originalName });
      this.sources.set(family, source.originalName);
      if (source.originalName === batch.originalName) return family;
    }
    throw heldByOthers(batch);
  }

  private async isEnrolled(keyHash: string): Promise<boolean> {
    if (this.knownNodes.has(keyHash)) return true;
    const node = await this.options.manager.catalog.findOsqueryNode(keyHash);
    if (node === undefined) return false;
    this.remember(keyHash);
    return true;
  }

  private remember(keyHash: string): void {
    if (this.knownNodes.size >= NODE_CACHE_MAX) this.knownNodes.clear();
    this.knownNodes.add(keyHash);
  }

  /**
   * Events without a declared schema (POST /api/log/{family}): field types
   * inferred (schema/infer-types.ts), a declared `schema` winning for its
   * fields, stored columns keeping their types. Fields only ever null get no
   * column yet (the raw copy keeps them). All or nothing.
   * @throws AppError INVALID_FAMILY_NAME, INVALID_SCHEMA, INVALID_FIELD_NAME,
   *   INVALID_VALUE, BAD_USER_INPUT, TOO_MANY_COLUMNS (400), SCHEMA_CONFLICT
   *   (409, a declared type against a stored one), SHARD_UNAVAILABLE.
   */
  async ingestSchemaless(request: SchemalessRequest, beforeWrite?: BeforeWrite): Promise<IngestResult> {
    const { manager, ingest, maxColumns } = { ...this.options, maxColumns: this.options.maxColumns };
    const family = validateFamilyName(request.family);
    const declared = request.schema === undefined || request.schema === null ? [] : parseDeclaredSchema(request.schema, { maxColumns });
    if (!Array.isArray(request.events)) {
      throw badInput('the events must be a JSON array of objects (or NDJSON, one object per line)', { received: request.events === null ? 'null' : typeof request.events });
    }
    const events = request.events as unknown[];
    if (events.length === 0) throw badInput('no events: send at least one JSON object', {});
    const stored = (await manager.findFamily(family))?.fields ?? [];
    const inferred = inferSchema(events, { stored, declared, maxColumns });
    const first = inferred.errors[0];
    if (first !== undefined) {
      const more = inferred.errors.length > 1 ? ` (and ${inferred.errors.length - 1} more; nothing was written)` : ' (nothing was written)';
      throw new AppError(first.code, `${first.message}${more}`, {
        index: first.index,
        field: first.field,
        errors: inferred.errors.slice(0, 20).map((e) => ({ index: e.index, field: e.field, code: e.code, message: e.message })),
      });
    }
    // A declared type against a stored one is the client's conflict (409); inferred ones never are.
    mergeSchemas(stored, declared, maxColumns);
    // The family's access check before any column is added (the rows are charged below, once counted).
    await beforeWrite?.(0, [family]);
    const info = await manager.prepareLenientIngest(family, [...declared, ...inferred.added]);
    const byKey = new Map(info.fields.map((f) => [columnNameKey(f.name), f]));
    const used = new Set(inferred.fields.map((f) => columnNameKey(f.name)));
    for (const field of declared) used.add(columnNameKey(field.name));
    const schema = Object.fromEntries(
      [...used].flatMap((key) => {
        const field = byKey.get(key);
        return field === undefined ? [] : [[field.name, field.type]];
      }),
    );
    const nullOnly = inferred.nullOnly;
    const logs =
      nullOnly.length === 0
        ? events
        : events.map((event) => {
            const copy = { ...(event as Record<string, unknown>) };
            for (const name of nullOnly) delete copy[name];
            return copy;
          });
    const prepared = ingest.prepare({ family, schema, logs, idempotencyKey: request.idempotencyKey, sourceText: request.sourceText });
    await beforeWrite?.(prepared.count, [family]);
    return ingest.write(prepared);
  }
}
