/**
 * Retention use case: per-family retention policies (stored in the catalog)
 * and purges of events ingested before a cut-off, in the family table and in
 * the family's raw_logs rows on its shard. Also expires old Idempotency-Keys.
 * Knows nothing of HTTP and nothing of scheduling (that is purger.ts).
 *
 * Each batch is one short transaction on the shard that deletes the same
 * events from the family table and raw_logs (shards/purge-batch.ts says how
 * and why), so ingest into the same family keeps flowing and a crash never
 * leaves the two apart.
 */
import type { Logger } from '../logging/logger.js';
import { AppError, familyNotFound } from '../errors/app-error.js';
import { isNoSuchTableError } from '../errors/mysql-errors.js';
import { validateFamilyName } from '../schema/identifiers.js';
import { parseDurationSeconds } from '../config/config.js';
import type { ShardManager } from '../shards/shard-manager.js';
import type { Catalog } from '../shards/catalog.js';
import { idempotencyCutoff } from '../shards/idempotency-store.js';
import type { Clock } from './clock.js';
import { nestingExceeds } from '../schema/coerce-value.js';
import { ValueCoercionError, epochMicrosToIso, instantToEpochMicros, isoToSqlDateTime, parseIsoInstant } from '../schema/time.js';

/** A family's retention policy as the API answers it. */
export interface RetentionPolicy {
  family: string;
  /** Events older than this many seconds are purged; null keeps them forever. */
  retentionSeconds: number | null;
}

/** What a purge answers. `family` and `deleted` are the documented keys (docs/rest.md). */
export interface PurgeResult {
  family: string;
  /** Rows removed from the family table. */
  deleted: number;
  /** Rows removed from the family's raw_logs copy. */
  deletedRaw: number;
  /** The cut-off applied, ISO-8601 UTC with microseconds: rows ingested before it were removed. */
  before: string;
}

/** A completed (or stopped) purge, for metrics and logs. */
export interface PurgeOutcome extends PurgeResult {
  shard: string;
  /** 'request' for an on-demand purge, 'policy' for the background purger. */
  trigger: PurgeTrigger;
  durationMs: number;
  /** False when `continueBatch` stopped the purge before every matching row was gone. */
  complete: boolean;
}

/** Who asked for a purge. */
export type PurgeTrigger = 'request' | 'policy';

/** Hooks of one purge run (used by the background purger). */
export interface PurgeControl {
  trigger: PurgeTrigger;
  /**
   * Called before every batch after the first; resolving false stops the
   * purge after the batch already done (e.g. the lease was lost, or the
   * process is shutting down). Rows deleted so far stay deleted.
   */
  continueBatch?: () => Promise<boolean>;
}

/** A purge cut-off: rows with `_ingested_at` strictly before it are purged. */
export interface Cutoff {
  /** 'YYYY-MM-DD HH:MM:SS.ffffff' UTC, compared with DATETIME(6) columns. */
  sql: string;
  /** ISO-8601 UTC with microseconds, e.g. '2024-05-01T00:00:00.000000Z'. */
  iso: string;
  /** Microseconds since the Unix epoch. */
  epochMicros: number;
}

/** Settings of the retention service. */
export interface RetentionServiceOptions {
  manager: ShardManager;
  catalog: Catalog;
  logger: Logger;
  clock: Clock;
  /** Rows per purge batch (config.retention.purgeBatchSize). */
  batchSize: number;
  /** How long an Idempotency-Key is remembered, seconds (config.idempotencyTtlSeconds). */
  idempotencyTtlSeconds: number;
  /** Called after every purge, on-demand or by policy (metrics). */
  onPurged?: (outcome: PurgeOutcome) => void;
}

/** Longest accepted retention: 36500 days (100 years); longer is the same as none. */
export const MAX_RETENTION_SECONDS = 36_500 * 86_400;

const ACCEPTED_RETENTION =
  'a positive whole number of seconds (3600) or a duration such as "30d", "12h", "30m", "3600s" or "1w2d" (units s, m, h, d, w)';

const ACCEPTED_BEFORE =
  'an ISO-8601 time such as 2024-05-01T00:00:00Z (UTC when no offset is given) or epoch seconds such as 1714521600';

/** Shortens an offending value for messages and details. */
function show(value: unknown): string {
  if (value === undefined) return 'nothing';
  // JSON.stringify recurses: a body nested thousands deep would overflow the stack.
  if (nestingExceeds(value, 8)) return 'a value nested more than 8 levels deep';
  const text = typeof value === 'bigint' ? String(value) : JSON.stringify(value) ?? String(value);
  return text.length > 80 ? `${text.slice(0, 80)}...` : text;
}

/**
 * Parses a retention policy: a positive safe integer of seconds (number), or
 * a duration string accepted by parseDurationSeconds ('30d', '12h', '3600s',
 * '3600'). At most {@link MAX_RETENTION_SECONDS}.
 *
 * @throws AppError INVALID_TIME naming the accepted forms, details `{ field: 'retention', value }`.
 * @example parseRetention('7d') === 604800; parseRetention(3600) === 3600; parseRetention('0') throws
 */
export function parseRetention(value: unknown): number {
  let seconds: number | undefined;
  if (typeof value === 'number') {
    seconds = Number.isSafeInteger(value) && value > 0 ? value : undefined;
  } else if (typeof value === 'string') {
    seconds = parseDurationSeconds(value);
  }
  if (seconds === undefined) {
    throw new AppError('INVALID_TIME', `retention must be ${ACCEPTED_RETENTION}; received ${show(value)}. To keep events forever, clear the policy instead`, {
      field: 'retention',
      value: typeof value === 'string' || typeof value === 'number' ? value : null,
    });
  }
  if (seconds > MAX_RETENTION_SECONDS) {
    throw new AppError('INVALID_TIME', `retention ${show(value)} is longer than the maximum of 36500d (100 years); give a shorter duration, or clear the policy to keep events forever`, {
      field: 'retention',
      value: typeof value === 'string' || typeof value === 'number' ? value : null,
      maxSeconds: MAX_RETENTION_SECONDS,
    });
  }
  return seconds;
}

/** Epoch seconds: digits with an optional fraction (no sign, no exponent). */
const EPOCH_PATTERN = /^\d+(?:\.\d+)?$/;

/** Microseconds -> the Cutoff forms. `micros` must be >= 0. */
export function cutoffFromEpochMicros(micros: number): Cutoff {
  const iso = epochMicrosToIso(micros);
  return { sql: isoToSqlDateTime(iso), iso, epochMicros: micros };
}

/** Parses an ISO-8601 text into epoch microseconds, or undefined when it is not a real time (schema/time.ts). */
function isoToEpochMicros(text: string): number | undefined {
  try {
    const instant = parseIsoInstant(text);
    return instant === undefined ? undefined : instantToEpochMicros(instant);
  } catch (error) {
    if (error instanceof ValueCoercionError) return undefined;
    throw error;
  }
}

/**
 * Parses a purge cut-off: an ISO-8601 string (UTC when it has no offset;
 * date-only means midnight UTC) or epoch seconds as a number or numeric
 * string (fractions down to microseconds), or a Date. It must not be before
 * 1970-01-01T00:00:00Z nor after `now`.
 *
 * @throws AppError INVALID_TIME, details `{ field: 'before', value }` (plus `now` when it is in the future).
 * @example parseBefore('2024-05-01T02:00:00+02:00', now).iso === '2024-05-01T00:00:00.000000Z'
 * @example parseBefore(1714521600, now).sql === '2024-05-01 00:00:00.000000'
 */
export function parseBefore(value: unknown, now: Date): Cutoff {
  let micros: number | undefined;
  if (value instanceof Date) {
    // A DateTime scalar from GraphQL arrives parsed.
    micros = Number.isNaN(value.getTime()) ? undefined : value.getTime() * 1000;
  } else if (typeof value === 'number') {
    micros = Number.isFinite(value) && value >= 0 ? Math.floor(value * 1_000_000) : undefined;
  } else if (typeof value === 'string') {
    const text = value.trim();
    if (EPOCH_PATTERN.test(text)) {
      const seconds = Number(text);
      micros = Number.isFinite(seconds) ? Math.floor(seconds * 1_000_000) : undefined;
    } else {
      micros = isoToEpochMicros(text);
    }
  }
  const details = { field: 'before', value: typeof value === 'string' || typeof value === 'number' ? value : null };
  if (micros === undefined || Number.isNaN(micros)) {
    throw new AppError('INVALID_TIME', `"before" must be ${ACCEPTED_BEFORE}; received ${show(value)}`, details);
  }
  if (micros < 0) {
    throw new AppError('INVALID_TIME', `"before" ${show(value)} is before 1970-01-01T00:00:00Z; give ${ACCEPTED_BEFORE}`, details);
  }
  const nowMicros = now.getTime() * 1000;
  if (micros > nowMicros) {
    throw new AppError(
      'INVALID_TIME',
      `"before" ${show(value)} is in the future (now is ${now.toISOString()}); a purge removes events ingested before a past time, so give a time no later than now`,
      { ...details, now: now.toISOString() },
    );
  }
  return cutoffFromEpochMicros(micros);
}

/** The cut-off of a retention policy at `now`, or undefined when it would fall before 1970. */
export function policyCutoff(now: Date, retentionSeconds: number): Cutoff | undefined {
  const micros = (now.getTime() - retentionSeconds * 1000) * 1000;
  return micros < 0 ? undefined : cutoffFromEpochMicros(micros);
}

/**
 * A purge batch's error with the progress made before it: every batch
 * before it committed (family rows and raw copies alike), the failed one
 * did not. An AppError keeps its code and gains `deleted`/`deletedRaw` in its
 * details; anything else goes up unchanged.
 */
function stoppedAfter(error: unknown, deleted: number, deletedRaw: number, family: string, cutoff: Cutoff): unknown {
  if (!(error instanceof AppError)) return error;
  return new AppError(
    error.code,
    `${error.message}. The purge of "${family}" before ${cutoff.iso} stopped after deleting ${deleted} events (the family table and raw_logs alike); run it again to finish`,
    { ...error.details, family, before: cutoff.iso, deleted, deletedRaw },
    error,
  );
}

/** Retention policies and purges. */
export class RetentionService {
  private readonly options: RetentionServiceOptions;

  constructor(options: RetentionServiceOptions) {
    this.options = options;
  }

  /** Rows per purge batch. */
  get batchSize(): number {
    return this.options.batchSize;
  }

  /**
   * The family's retention policy.
   * @throws INVALID_FAMILY_NAME (400), FAMILY_NOT_FOUND (404), SHARD_UNAVAILABLE (503, catalog down).
   */
  async getRetention(family: string): Promise<RetentionPolicy> {
    const name = validateFamilyName(family);
    const placement = await this.options.catalog.getPlacement(name);
    if (placement === undefined) throw familyNotFound(name);
    return { family: name, retentionSeconds: placement.retentionSeconds };
  }

  /**
   * Sets or changes the family's policy; `retention` is seconds (a positive
   * integer) or a duration string ('30d', '12h', '3600s', '3600'). The next
   * purger run applies it.
   * @throws INVALID_TIME (400), INVALID_FAMILY_NAME (400), FAMILY_NOT_FOUND (404), SHARD_UNAVAILABLE (503).
   */
  async setRetention(family: string, retention: unknown): Promise<RetentionPolicy> {
    const name = validateFamilyName(family);
    const seconds = parseRetention(retention);
    if (!(await this.options.catalog.setRetention(name, seconds))) throw familyNotFound(name);
    this.options.logger.info({ family: name, retentionSeconds: seconds }, 'retention policy set');
    return { family: name, retentionSeconds: seconds };
  }

  /**
   * Clears the family's policy: its events are kept forever (a default
   * policy given by --default_retention applies only to families placed
   * later, never to this one again).
   * @throws INVALID_FAMILY_NAME (400), FAMILY_NOT_FOUND (404), SHARD_UNAVAILABLE (503).
   */
  async clearRetention(family: string): Promise<{ family: string; retentionSeconds: null }> {
    const name = validateFamilyName(family);
    if (!(await this.options.catalog.setRetention(name, null))) throw familyNotFound(name);
    this.options.logger.info({ family: name }, 'retention policy cleared');
    return { family: name, retentionSeconds: null };
  }

  /**
   * Purges now: deletes the family's events ingested strictly before
   * `before` (ISO-8601 string, or epoch seconds as number or numeric string)
   * from its table and its raw_logs rows, in batches. Events ingested at or
   * after `before` are never deleted. Safe to run while ingest and other
   * purges of the same family run (each counts only the rows it deleted).
   * @throws INVALID_TIME (400: unparseable, before 1970, or in the future), INVALID_FAMILY_NAME (400),
   *   FAMILY_NOT_FOUND (404), SHARD_UNAVAILABLE (503).
   */
  async purge(family: string, before: unknown): Promise<PurgeResult> {
    const name = validateFamilyName(family);
    const cutoff = parseBefore(before, this.options.clock());
    const outcome = await this.purgeBefore(name, cutoff, { trigger: 'request' });
    return { family: outcome.family, deleted: outcome.deleted, deletedRaw: outcome.deletedRaw, before: outcome.before };
  }

  /**
   * The purge itself, for on-demand and policy purges: resolves the family's
   * shard, deletes in batches until no row before `cutoff` is left or
   * `control.continueBatch` says stop, then logs and reports the outcome.
   * Each batch removes the same events from the family table and from
   * raw_logs in one transaction (shards/purge-batch.ts), so a purge cut
   * short by a crash leaves both consistent, and running it again finishes it.
   * @throws FAMILY_NOT_FOUND (404), SHARD_UNAVAILABLE (503; its details say
   *   `deleted` and `deletedRaw` so far, and its message that a retry finishes).
   */
  async purgeBefore(family: string, cutoff: Cutoff, control: PurgeControl): Promise<PurgeOutcome> {
    const { manager } = this.options;
    const parts = await manager.partsOf(family);
    if (parts === undefined) throw familyNotFound(family);
    if (parts.length > 1) return this.purgeParts(family, parts.map((part) => part.shard), cutoff, control);
    // A move switched the family to another shard meanwhile: the purge starts over there.
    return manager.onCurrentShard([family], () => this.purgeOnShard(family, cutoff, control));
  }

  /** A spread family: every part purged in turn; the outcome sums them (its `shard` is the first part). */
  private async purgeParts(family: string, shards: readonly string[], cutoff: Cutoff, control: PurgeControl): Promise<PurgeOutcome> {
    const started = performance.now();
    let deleted = 0;
    let deletedRaw = 0;
    let complete = true;
    for (const shard of shards) {
      let outcome: PurgeOutcome;
      try {
        outcome = await this.purgeOnShard(family, cutoff, { ...control, onPurged: false }, shard);
      } catch (error) {
        throw stoppedAfter(error, deleted, deletedRaw, family, cutoff);
      }
      deleted += outcome.deleted;
      deletedRaw += outcome.deletedRaw;
      complete &&= outcome.complete;
      if (!outcome.complete) break;
    }
    const outcome: PurgeOutcome = {
      family,
      shard: shards[0] as string,
      deleted,
      deletedRaw,
      before: cutoff.iso,
      trigger: control.trigger,
      durationMs: Math.round(performance.now() - started),
      complete,
    };
    this.options.onPurged?.(outcome);
    return outcome;
  }

  /**
   * Refuses to purge while the family moves (FAMILY_MOVING): rows deleted on
   * the source after the move copied them would come back with the copy.
   * Checked in every batch, holding the family's purge lock (purge-batch.ts).
   */
  private async refuseWhileMoving(family: string): Promise<void> {
    const move = await this.options.catalog.activeMove(family);
    if (move !== undefined && move.state !== 'queued') {
      throw new AppError(
        'FAMILY_MOVING',
        `log family "${family}" is moving from shard "${move.from}" to "${move.to}" (move ${move.moveId}, ${move.state}); purges wait until it is done: retry after GET /api/families/${family}/move says done`,
        { family, moveId: move.moveId, state: move.state },
      );
    }
  }

  private async purgeOnShard(family: string, cutoff: Cutoff, control: PurgeControl & { onPurged?: false }, part?: string): Promise<PurgeOutcome> {
    const { manager, logger } = this.options;
    const shard = part ?? (await manager.shardOf(family));
    if (shard === undefined) throw familyNotFound(family);
    const guard = (): Promise<void> => this.refuseWhileMoving(family);
    const started = performance.now();
    const batchSize = this.options.batchSize;
    let deleted = 0;
    let deletedRaw = 0;
    let complete = true;
    // A walk of the primary key from id 0; one that took more than one batch is followed by sweeps from 0
    // until one batch (one snapshot over the whole table) finds little enough to end (purge-batch.ts, exactness).
    let afterId = '0';
    for (let first = true; ; first = false) {
      if (!first && control.continueBatch !== undefined && !(await control.continueBatch())) {
        complete = false;
        break;
      }
      let result;
      try {
        result = await manager.deletePurgeBatch(shard, { family, cutoffSql: cutoff.sql, batchSize, afterId, guard });
      } catch (error) {
        // A placed family whose table was never created (placed by an older gateway whose first ingest failed) holds nothing;
        // one that moved away is purged where it went (purgeBefore).
        if (isNoSuchTableError(error)) {
          if ((await manager.findFamily(family))?.shard !== shard) throw error;
          break;
        }
        if (error instanceof AppError && error.code === 'FAMILY_MOVING') throw error;
        throw stoppedAfter(error, deleted, deletedRaw, family, cutoff);
      }
      deleted += result.deleted;
      deletedRaw += result.deletedRaw;
      if (result.last) {
        if (afterId === '0') break;
        afterId = '0';
      } else {
        afterId = result.lastId;
      }
    }
    const outcome: PurgeOutcome = {
      family,
      shard,
      deleted,
      deletedRaw,
      before: cutoff.iso,
      trigger: control.trigger,
      durationMs: Math.round(performance.now() - started),
      complete,
    };
    logger.info(
      { family, shard, deleted, deletedRaw, before: cutoff.iso, trigger: control.trigger, ms: outcome.durationMs, complete },
      complete ? 'family purged' : 'family purge stopped early',
    );
    if (control.onPurged !== false) this.options.onPurged?.(outcome);
    return outcome;
  }

  /**
   * Deletes Idempotency-Keys older than the configured ttl on shard `shardId`,
   * in batches. Returns how many went. `continueBatch` as in {@link PurgeControl}.
   * @throws SHARD_UNAVAILABLE (503).
   */
  async purgeExpiredIdempotencyKeys(shardId: string, continueBatch?: () => Promise<boolean>): Promise<number> {
    const cutoff = idempotencyCutoff(this.options.clock(), this.options.idempotencyTtlSeconds);
    const batch = this.options.batchSize;
    let total = 0;
    for (let first = true; ; first = false) {
      if (!first && continueBatch !== undefined && !(await continueBatch())) break;
      const deleted = await this.options.manager.purgeExpiredIdempotencyKeys(shardId, cutoff, batch);
      total += deleted;
      if (deleted < batch) break;
    }
    if (total > 0) this.options.logger.info({ shard: shardId, deleted: total }, 'expired idempotency keys purged');
    return total;
  }
}
