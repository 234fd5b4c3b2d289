/**
 * Moving a family between shards online (docs/moving.md). A move is a row
 * in the catalog (databalancer_moves) driven by whichever gateway process
 * holds its lease (`move:<family>`), through these states:
 *
 * - copying: batches of rows, in id order, from the family table on the
 *   source to a staging table on the target, each batch verified (row count
 *   and checksum over its id range on both sides) before its progress is
 *   recorded. Only rows no open transaction can still add to are copied: the
 *   copy reads the highest id, then waits for every write transaction open
 *   on the source at that moment to end (ids are handed out in order, so
 *   nothing below it can appear later). Purges of the family are refused
 *   while it moves (a deleted row would come back with the copy).
 * - catching_up: the same for the rows ingested meanwhile, until what is
 *   left is small (at most one batch).
 * - switching: the fence on the source (the family table renamed away under
 *   its DDL lock, a marker against re-creating it; shards/family-copy.ts),
 *   the last rows copied and verified, the Idempotency-Keys copied, the
 *   staging table renamed to the family on the target, then the placement
 *   switched in the catalog. Writers meanwhile get ER_NO_SUCH_TABLE, whole,
 *   and wait for the switch (ShardManager.onCurrentShard), so ingest pauses
 *   for the length of the switch and loses nothing.
 * - done, failed or cancelled. A failure before the placement switched
 *   undoes the fence and drops the staging table: the family stays where it
 *   was and keeps working.
 *
 * Every step can run again: a process that dies mid-move leaves its lease
 * to expire, and another process's poller resumes the move from its
 * recorded progress (rows past it on the target are deleted first).
 * Knows nothing of HTTP.
 */
import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import type { Logger } from '../logging/logger.js';
import { AppError, badInput, familyNotFound, isAppError } from '../errors/app-error.js';
import { LEGACY_RAW_LOGS_TABLE, validateFamilyName } from '../schema/identifiers.js';
import { purgeLockName } from '../schema/table-ddl.js';
import { ActiveMoveExists, isActiveMoveState, type Catalog, type MoveRecord, type MoveState } from '../shards/catalog.js';
import { PART_ID_SPAN } from '../shards/shard-manager.js';
import type { ShardManager } from '../shards/shard-manager.js';
import type { PooledConnection } from '../shards/connection.js';
import { refreshRawLogsView, RAW_LOGS_VIEW_LOCK } from '../shards/raw-logs-view.js';
import {
  clearMovedAway,
  countAfter,
  countRows,
  deleteAfter,
  deleteIdempotencyKeys,
  dropTable,
  ensureStagingColumns,
  legacyRawRows,
  markMovedAway,
  maxId,
  openWriteTransactions,
  queryOn,
  rangeSum,
  readBatch,
  readColumns,
  readIdempotencyKeys,
  renameTable,
  retiredTableName,
  stagingTableName,
  tableExists,
  writeBatch,
  writeIdempotencyKeys,
} from '../shards/family-copy.js';
import { planRebalance, type RebalancePlan } from './rebalance-plan.js';

/** A move as the API answers it. */
export interface MoveView {
  family: string;
  moveId: string;
  from: string;
  to: string;
  state: MoveState;
  copiedRows: number;
  totalRows: number;
  startedAt: string;
  finishedAt: string | null;
  error: string | null;
}

/** Settings of the move service. */
export interface MoveServiceOptions {
  manager: ShardManager;
  catalog: Catalog;
  logger: Logger;
  /** Rows per copy batch (move_batch_rows). */
  batchRows: number;
  /** Rows copied per second at most (move_rows_per_second); 0: as fast as the shards go. */
  rowsPerSecond: number;
  /** Seconds the source table is kept, renamed, after the switch (move_source_grace_seconds); 0 drops it at once. */
  sourceGraceSeconds: number;
  /** Lease time to live, ms (move_lease_seconds): how long a dead mover blocks its move before another process resumes it. */
  leaseTtlMs: number;
  /** Longest a write transaction can stay open (write_timeout_ms): the copy waits at most this for open transactions. */
  writeTimeoutMs: number;
  /** Milliseconds between looks for moves to resume; default leaseTtlMs / 3. */
  pollIntervalMs?: number;
  /** Lease holder id; default `<hostname>:<pid>:<random>`. */
  holder?: string;
}

/**
 * Seconds the fence's RENAME waits, attempt after attempt, for queries and
 * transactions using the family table (writes wait meanwhile): short first,
 * longer when long queries keep the table busy; then the move fails.
 */
const FENCE_LOCK_WAITS_SECONDS = [1, 1, 2, 2, 3, 3, 5, 5];
const FENCE_ATTEMPTS = FENCE_LOCK_WAITS_SECONDS.length;
/**
 * The switch copies what is left while writes wait, so it starts only once
 * what is left takes about this long to copy at the rate the last round
 * copied (or is at most one batch). A family ingesting faster than the copy
 * goes keeps catching up, visibly (state catching_up), rather than pausing
 * its writers for long.
 */
const SWITCH_BUDGET_MS = 500;
/** Tries of one batch against a shard error before the move fails. */
const BATCH_TRIES = 3;

/**
 * Where a move copies to: a staging table on the target, or, when the
 * target already holds a part of the same spread family (two parts merged:
 * the family narrowed), that part's own table, within the moving part's id
 * range (`after` < id <= `upTo`), which no other part's ids enter.
 */
interface CopyTarget {
  table: string;
  merge: { after: string; upTo: string } | null;
}

/** A move stopped by its own process (lease lost, cancelled, stopping): not a failure. */
class MoveStopped extends Error {}

function viewOf(move: MoveRecord): MoveView {
  return {
    family: move.family,
    moveId: move.moveId,
    from: move.from,
    to: move.to,
    state: move.state,
    copiedRows: move.copiedRows,
    totalRows: Math.max(move.totalRows, move.copiedRows),
    startedAt: move.startedAt,
    finishedAt: move.finishedAt,
    error: move.error,
  };
}

const md5 = (text: string): string => createHash('md5').update(text).digest('hex');

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** Starts, reports, cancels and resumes moves; see the module header. */
export class MoveService {
  readonly holder: string;
  private readonly options: MoveServiceOptions;
  private readonly manager: ShardManager;
  private readonly catalog: Catalog;
  private readonly logger: Logger;
  /** `moveId` and column names whose target this process has given those columns (prepareTarget). */
  private readonly preparedTargets = new Set<string>();
  /** Moves this process drives now: moveId -> its run. */
  private readonly running = new Map<string, Promise<void>>();
  private timer: NodeJS.Timeout | undefined;
  private stopping = false;

  constructor(options: MoveServiceOptions) {
    this.options = options;
    this.manager = options.manager;
    this.catalog = options.catalog;
    this.logger = options.logger;
    this.holder = options.holder ?? `${hostname()}:${process.pid}:${randomUUID().slice(0, 8)}`;
    this.manager.switchingProbe = (family) => this.isSwitching(family);
  }

  /**
   * Starts moving `family` to shard `to`; answers at once (202), the copy
   * runs in the background. Throws INVALID_FAMILY_NAME, BAD_USER_INPUT
   * (unknown shard, or the one it is on), FAMILY_NOT_FOUND (404),
   * FAMILY_MOVING (409, a move is active, or legacy raw copies are in the
   * way), SHARD_UNAVAILABLE (503: the target or the catalog cannot be reached).
   */
  async start(family: unknown, to: unknown, from?: unknown): Promise<MoveView> {
    const name = validateFamilyName(family);
    const shards = this.manager.shards.map((pool) => pool.id);
    if (typeof to !== 'string' || to === '') {
      throw badInput(`send {"to": "<shard>"}: the shard to move "${name}" to, one of ${shards.join(', ')}`, { field: 'to' });
    }
    const found = await this.catalog.getPlacement(name);
    if (found === undefined) throw familyNotFound(name);
    if (!shards.includes(to)) {
      throw badInput(`unknown shard "${to}"; move "${name}" to one of ${shards.join(', ')} (GET /readyz lists them)`, { field: 'to', shard: to });
    }
    // Onto another part of the same spread family: the two parts merge (the family is narrowed).
    const merging = typeof from === 'string' && found.shards.length > 1 && found.shards.includes(to) && from !== to;
    if (found.shards.includes(to) && !merging) {
      throw badInput(`log family "${name}" is on shard "${to}" already; move it to another: ${shards.filter((s) => !found.shards.includes(s)).join(', ')}`, { field: 'to', shard: to });
    }
    // A spread family moves one part at a time: `from` names it.
    if (from !== undefined && (typeof from !== 'string' || !found.shards.includes(from))) {
      throw badInput(`"from" must be a shard "${name}" is on: ${found.shards.join(', ')}`, { field: 'from' });
    }
    if (from === undefined && found.shards.length > 1) {
      throw badInput(`log family "${name}" is spread over ${found.shards.join(', ')}; say which part moves with {"from": "<shard>", "to": "${to}"}`, { field: 'from' });
    }
    const placement = { shard: (from as string | undefined) ?? found.shard };
    const active = await this.catalog.activeMove(name);
    if (active !== undefined) throw this.alreadyMoving(active);
    await this.manager.probe(to, 5000).catch((error: unknown) => {
      throw isAppError(error) ? error : new AppError('SHARD_UNAVAILABLE', `shard "${to}" does not answer; the move was not started`, { shard: to }, error);
    });
    await this.manager.withWriter(placement.shard, name, async (connection) => {
      if ((await openWriteTransactions(connection)) === undefined) {
        throw new AppError(
          'SHARD_UNAVAILABLE',
          `the gateway's MySQL user on shard "${placement.shard}" may not read information_schema.INNODB_TRX, which a move needs to know when copied rows are final; GRANT PROCESS ON *.* to it (docs/moving.md)`,
          { shard: placement.shard, reason: 'privilege_missing' },
        );
      }
      if ((await legacyRawRows(connection, LEGACY_RAW_LOGS_TABLE, name)) > 0) {
        throw new AppError(
          'FAMILY_MOVING',
          `log family "${name}" still has raw copies in ${LEGACY_RAW_LOGS_TABLE} on shard "${placement.shard}" (written by a gateway before 0.2), which a move does not carry; purge them first (DELETE /api/log/${name}?before=<time of the upgrade>)`,
          { family: name, shard: placement.shard, reason: 'legacy_raw_copies' },
        );
      }
    });
    let move: MoveRecord;
    try {
      move = await this.catalog.createMove({ moveId: randomBytes(8).toString('hex'), family: name, from: placement.shard, to, state: 'copying' });
    } catch (error) {
      if (error instanceof ActiveMoveExists) throw this.alreadyMoving(error.existing);
      throw error;
    }
    this.logger.info({ family: name, from: placement.shard, to, moveId: move.moveId }, 'family move started');
    this.drive(move.moveId, name);
    return viewOf(move);
  }

  /** The family's latest move. Throws INVALID_FAMILY_NAME, FAMILY_NOT_FOUND, MOVE_NOT_FOUND (404). */
  async status(family: unknown): Promise<MoveView> {
    const name = validateFamilyName(family);
    const move = await this.catalog.latestMove(name);
    if (move === undefined) {
      if ((await this.catalog.getPlacement(name)) === undefined) throw familyNotFound(name);
      throw new AppError('MOVE_NOT_FOUND', `log family "${name}" never moved; POST /api/families/${name}/move {"to": "<shard>"} moves it`, { family: name });
    }
    return viewOf(move);
  }

  /** The family's latest move, or null when it never moved (GraphQL's Family.move). */
  async latest(family: string): Promise<MoveView | null> {
    const move = await this.catalog.latestMove(family);
    return move === undefined ? null : viewOf(move);
  }

  /**
   * Cancels the family's move if it has not started switching: the family
   * stays where it was and the staging copy on the target is dropped before
   * this answers. Throws MOVE_NOT_FOUND (404, no move in progress),
   * FAMILY_MOVING (409, it is switching: it finishes in a moment).
   */
  async cancel(family: unknown): Promise<MoveView> {
    const name = validateFamilyName(family);
    const move = await this.catalog.activeMove(name);
    if (move === undefined) {
      if ((await this.catalog.getPlacement(name)) === undefined) throw familyNotFound(name);
      throw new AppError('MOVE_NOT_FOUND', `log family "${name}" has no move in progress to cancel; GET /api/families/${name}/move shows its last one`, { family: name });
    }
    const cancelled = await this.catalog.updateMove(move.moveId, { state: 'cancelled', finished: true, error: 'cancelled by request' }, ['queued', 'copying', 'catching_up']);
    if (!cancelled) throw this.alreadyMoving((await this.catalog.getMove(move.moveId)) ?? move, 'it is switching and cannot be cancelled any more; it is done in a moment');
    await this.dropStaging(move);
    this.logger.info({ family: name, moveId: move.moveId }, 'family move cancelled');
    return viewOf((await this.catalog.getMove(move.moveId)) ?? move);
  }

  /** True when `family` has a move in its switching step (writers wait for it: ShardManager.onCurrentShard). */
  async isSwitching(family: string): Promise<boolean> {
    const move = await this.catalog.activeMove(family);
    return move?.state === 'switching';
  }

  /** The moves that would even out rows per shard (row estimates of InnoDB), without doing them. */
  async proposeRebalance(): Promise<RebalancePlan> {
    const placements = await this.manager.listPlacements();
    const shards = this.manager.shards.map((pool) => pool.id);
    const loads = await Promise.all(
      shards.map(async (shard) => {
        const families = placements.filter((p) => p.shard === shard).map((p) => p.family);
        if (families.length === 0) return [];
        const estimates = await this.manager.rowEstimates(shard, families);
        return families.map((family) => ({ family, shard, rows: estimates.get(family) ?? 0 }));
      }),
    );
    return planRebalance(shards, loads.flat());
  }

  /**
   * Queues the proposed moves; the pollers of all processes run them one at
   * a time, oldest first. A family with an active move is left out.
   */
  async runRebalance(): Promise<RebalancePlan & { queued: MoveView[] }> {
    const plan = await this.proposeRebalance();
    const queued: MoveView[] = [];
    for (const proposed of plan.moves) {
      try {
        const move = await this.catalog.createMove({ moveId: randomBytes(8).toString('hex'), family: proposed.family, from: proposed.from, to: proposed.to, state: 'queued' });
        queued.push(viewOf(move));
      } catch (error) {
        if (!(error instanceof ActiveMoveExists)) throw error;
      }
    }
    this.logger.info({ moves: queued.map((m) => `${m.family}:${m.from}->${m.to}`) }, 'rebalance queued');
    this.poke();
    return { ...plan, queued };
  }

  /** Starts the poller that resumes moves whose process died and starts queued ones. */
  startBackground(): void {
    if (this.timer !== undefined || this.stopping) return;
    const interval = this.options.pollIntervalMs ?? Math.max(200, Math.floor(this.options.leaseTtlMs / 3));
    const tick = (): void => {
      this.timer = setTimeout(() => {
        void this.pollOnce().finally(() => {
          if (!this.stopping) tick();
        });
      }, interval);
      this.timer.unref();
    };
    tick();
  }

  /** Stops the poller and lets the moves this process drives stop at their next batch (another process resumes them). */
  async stop(): Promise<void> {
    this.stopping = true;
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
    await Promise.allSettled([...this.running.values()]);
  }

  /** Resolves when every move this process drives now has stopped (tests, tools). */
  async idle(): Promise<void> {
    while (this.running.size > 0) await Promise.allSettled([...this.running.values()]);
  }

  private poke(): void {
    void this.pollOnce();
  }

  /** One look at the catalog: resume what nobody drives, start the next queued move, drop retired sources whose grace ended. */
  async pollOnce(): Promise<void> {
    if (this.stopping) return;
    let pending: MoveRecord[];
    try {
      pending = await this.catalog.pendingMoves();
    } catch (error) {
      this.logger.warn({ err: error }, 'move poller: catalog unreachable, retrying');
      return;
    }
    const busy = pending.some((m) => isActiveMoveState(m.state) && m.state !== 'queued');
    for (const move of pending) {
      if (this.stopping) return;
      if (move.state === 'copying' || move.state === 'catching_up' || move.state === 'switching') {
        this.drive(move.moveId, move.family);
      } else if (move.state === 'queued' && !busy) {
        if (await this.catalog.updateMove(move.moveId, { state: 'copying', started: true }, ['queued']).catch(() => false)) this.drive(move.moveId, move.family);
        return;
      } else if (move.state === 'done' && move.sourceDropAfter !== null && Date.parse(move.sourceDropAfter) <= Date.now()) {
        await this.dropRetired(move).catch((error: unknown) => this.logger.warn({ err: error, moveId: move.moveId }, 'dropping a moved family\'s old table failed; retrying'));
      }
    }
  }

  /** Drives move `moveId` in the background if this process can take its lease. */
  private drive(moveId: string, family: string): void {
    if (this.running.has(moveId) || this.stopping) return;
    const run = (async () => {
      const lease = `move:${family}`;
      if (!(await this.catalog.tryLease(lease, this.holder, this.options.leaseTtlMs).catch(() => false))) return;
      try {
        await this.advance(moveId, lease);
      } finally {
        await this.catalog.releaseLease(lease, this.holder).catch(() => undefined);
      }
    })()
      .catch((error: unknown) => this.logger.error({ err: error, moveId }, 'family move: unexpected error'))
      .finally(() => {
        this.running.delete(moveId);
        for (const key of this.preparedTargets) if (key.startsWith(`${moveId}\u0000`)) this.preparedTargets.delete(key);
      });
    this.running.set(moveId, run);
  }

  /** Keeps the lease and checks the move is still wanted; throws MoveStopped otherwise. */
  private async keepGoing(move: MoveRecord, lease: string): Promise<MoveRecord> {
    if (this.stopping) throw new MoveStopped('gateway stopping');
    if (!(await this.catalog.tryLease(lease, this.holder, this.options.leaseTtlMs))) throw new MoveStopped('lease lost');
    const now = await this.catalog.getMove(move.moveId);
    if (now === undefined || now.state === 'cancelled') throw new MoveStopped('cancelled');
    return now;
  }

  private async advance(moveId: string, lease: string): Promise<void> {
    let move = await this.catalog.getMove(moveId);
    if (move === undefined || !isActiveMoveState(move.state) || move.state === 'queued') return;
    this.logger.info({ family: move.family, moveId, state: move.state, holder: this.holder }, 'family move: driving');
    try {
      if (move.state !== 'switching') move = await this.copy(move, lease);
      await this.switchOver(move, lease);
    } catch (error) {
      if (error instanceof MoveStopped) {
        this.logger.info({ family: move.family, moveId, reason: error.message }, 'family move: stopped here');
        if (error.message === 'cancelled') await this.dropStaging(move);
        return;
      }
      await this.fail(move, error);
    }
  }

  /** Records the move failed with `error`'s message, undoing the fence and dropping the staging copy where it can. */
  private async fail(move: MoveRecord, error: unknown): Promise<void> {
    const message = error instanceof Error ? error.message : String(error);
    this.logger.warn({ err: error, family: move.family, moveId: move.moveId }, 'family move failed; the family stays on its source');
    const recorded = await this.catalog
      .updateMove(move.moveId, { state: 'failed', finished: true, error: message.slice(0, 2000) }, ['copying', 'catching_up', 'switching'])
      .catch(() => false);
    if (!recorded) {
      // Cancelled meanwhile: its copy may have been written again after the cancel dropped it.
      if ((await this.catalog.getMove(move.moveId).catch(() => undefined))?.state === 'cancelled') await this.dropStaging(move);
      return;
    }
    await this.unfence(move).catch((e: unknown) => this.logger.error({ err: e, moveId: move.moveId }, 'family move: undoing the fence failed; the family cannot take writes on its source until this is retried'));
    await this.dropStaging(move);
  }

  // --- Copying ---

  /** See {@link CopyTarget}; decided from the catalog while the move is active. */
  private async copyTarget(move: MoveRecord): Promise<CopyTarget> {
    const parts = await this.catalog.getParts(move.family);
    const source = parts.find((part) => part.shard === move.from);
    if (source === undefined || !parts.some((part) => part.shard === move.to)) return { table: stagingTableName(move.moveId), merge: null };
    const after = source.index === 0 ? '0' : String(source.index * PART_ID_SPAN - 1);
    return { table: move.family, merge: { after, upTo: String((source.index + 1) * PART_ID_SPAN - 1) } };
  }

  /** Gives the target every column the copy writes: the staging table from the source's columns, a merged part through the family's DDL. */
  private async prepareTarget(move: MoveRecord, target: CopyTarget, columns: Parameters<typeof ensureStagingColumns>[3]): Promise<void> {
    // Once per set of columns and move: a batch with the same columns as the last needs nothing.
    const signature = `${move.moveId}\u0000${columns.names.join('\u0000')}`;
    if (this.preparedTargets.has(signature)) return;
    await this.prepareTargetNow(move, target, columns);
    this.preparedTargets.add(signature);
  }

  private async prepareTargetNow(move: MoveRecord, target: CopyTarget, columns: Parameters<typeof ensureStagingColumns>[3]): Promise<void> {
    if (target.merge !== null) {
      await this.manager.ensurePartColumns(move.to, move.family, await this.catalog.getColumns(move.family));
      return;
    }
    await this.manager.withWriter(move.to, move.family, (connection) => ensureStagingColumns(connection, this.manager.pool(move.to).config.database, target.table, columns));
  }

  /** Deletes what the target holds of this move past `after` (a batch written but not recorded, or one to copy again). */
  private async clearTarget(move: MoveRecord, target: CopyTarget, after: string, upTo?: string): Promise<void> {
    const bound = upTo ?? target.merge?.upTo;
    await this.manager.withWriter(move.to, move.family, (connection) => deleteAfter(connection, target.table, after, bound));
  }

  /** The copy and catch-up rounds; resolves with the move once what is left is at most one batch. */
  private async copy(start: MoveRecord, lease: string): Promise<MoveRecord> {
    const { manager } = this;
    let move = start;
    const target = await this.copyTarget(move);
    // No purge batch that began before this move may still be deleting (purge-batch.ts guard).
    await manager.withWriter(move.from, move.family, async (connection) => {
      const lock = purgeLockName(move.family, md5);
      await queryOn(connection, 'SELECT GET_LOCK(?, ?)', [lock, 60]);
      await queryOn(connection, 'SELECT RELEASE_LOCK(?)', [lock]);
    });
    const columns = await manager.withWriter(move.from, move.family, (connection) => readColumns(connection, manager.pool(move.from).config.database, move.family));
    if (columns === undefined) throw new Error(`the table of "${move.family}" is missing on shard "${move.from}"`);
    await this.prepareTarget(move, target, columns);
    if (target.merge !== null && BigInt(move.copiedUpTo) < BigInt(target.merge.after)) {
      // Merging: the moving part's ids all lie past `after` (the target part's own ids never do).
      await this.catalog.updateMove(move.moveId, { copiedUpTo: target.merge.after });
      move = { ...move, copiedUpTo: target.merge.after };
    }
    // A batch written before a crash but not recorded: copied again.
    await this.clearTarget(move, target, BigInt(move.copiedUpTo) > BigInt(target.merge?.after ?? '0') ? move.copiedUpTo : (target.merge?.after ?? '0'));
    if (move.totalRows === 0) {
      const total = await manager.withWriter(move.from, move.family, (connection) => countRows(connection, move.family));
      await this.catalog.updateMove(move.moveId, { totalRows: total });
      move = { ...move, totalRows: total };
    }
    for (;;) {
      move = await this.keepGoing(move, lease);
      const high = await this.settledHighWater(move);
      const roundStarted = Date.now();
      const copiedBefore = move.copiedRows;
      move = await this.copyUpTo(move, move.family, high, lease, target);
      const rate = (move.copiedRows - copiedBefore) / Math.max(1, Date.now() - roundStarted);
      const head = await manager.withWriter(move.from, move.family, (connection) => maxId(connection, move.family));
      // Ids are not rows (a part's range, rolled-back ids), so what is left is counted.
      const left = BigInt(head) - BigInt(move.copiedUpTo) <= BigInt(this.options.batchRows) ? 0 : await manager.withWriter(move.from, move.family, (connection) => countAfter(connection, move.family, move.copiedUpTo));
      if (left <= Math.max(this.options.batchRows, rate * SWITCH_BUDGET_MS)) return move;
      if (move.state !== 'catching_up') {
        await this.catalog.updateMove(move.moveId, { state: 'catching_up' }, ['copying']);
        move = { ...move, state: 'catching_up' };
      }
    }
  }

  /**
   * The highest id of the family on its source below which no row can still
   * appear: MAX(id) now, once every write transaction open at that moment
   * has ended (waiting at most write_timeout_ms; past it the gateway has
   * given up on that transaction's connection).
   */
  private async settledHighWater(move: MoveRecord): Promise<string> {
    return this.manager.withWriter(move.from, move.family, async (connection) => {
      const high = await maxId(connection, move.family);
      const open = await openWriteTransactions(connection);
      if (open === undefined) throw new Error(`cannot read information_schema.INNODB_TRX on shard "${move.from}" (the PROCESS privilege)`);
      const deadline = Date.now() + this.options.writeTimeoutMs + 1000;
      while (open.size > 0 && Date.now() < deadline) {
        await sleep(10);
        const still = (await openWriteTransactions(connection)) ?? new Set<string>();
        for (const id of open) if (!still.has(id)) open.delete(id);
      }
      return high;
    });
  }

  /** Copies and verifies batches of `table` on the source (the family, or its retired name once fenced) up to id `high`. */
  private async copyUpTo(start: MoveRecord, table: string, high: string, lease: string | undefined, target: CopyTarget): Promise<MoveRecord> {
    let move = start;
    const started = Date.now();
    let copiedHere = 0;
    while (BigInt(move.copiedUpTo) < BigInt(high)) {
      if (lease !== undefined) move = await this.keepGoing(move, lease);
      const { rows, position } = await this.withRetries(() => this.copyBatch(move, table, high, target), lease === undefined ? undefined : () => this.keepGoing(move, lease));
      copiedHere += rows;
      await this.catalog.updateMove(move.moveId, { copiedUpTo: position, copiedRows: move.copiedRows + rows, totalRows: Math.max(move.totalRows, move.copiedRows + rows) });
      move = { ...move, copiedUpTo: position, copiedRows: move.copiedRows + rows, totalRows: Math.max(move.totalRows, move.copiedRows + rows) };
      if (this.options.rowsPerSecond > 0) {
        const due = started + (copiedHere / this.options.rowsPerSecond) * 1000;
        if (due > Date.now()) await sleep(due - Date.now());
      }
    }
    return move;
  }

  /** Runs `work` up to BATCH_TRIES times on shard errors, half a second apart, `check`ing the move is still wanted before each retry. */
  private async withRetries<T>(work: () => Promise<T>, check?: () => Promise<unknown>): Promise<T> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await work();
      } catch (error) {
        if (error instanceof MoveStopped || attempt >= BATCH_TRIES || this.stopping) throw error;
        await sleep(500);
        await check?.();
      }
    }
  }

  /**
   * One batch: up to move_batch_rows rows of (copiedUpTo, high], read with the
   * source's columns (read again after, so a column added meanwhile is never
   * missed), written to the staging table, then verified on both sides.
   * Returns the rows copied and the new position (`high` when the range held
   * fewer rows than a batch: the ids between were never used).
   */
  private async copyBatch(move: MoveRecord, table: string, high: string, target: CopyTarget): Promise<{ rows: number; position: string }> {
    const { manager } = this;
    const staging = target.table;
    const limit = this.options.batchRows;
    const fromDb = manager.pool(move.from).config.database;
    const toDb = manager.pool(move.to).config.database;
    for (let attempt = 0; attempt < 2; attempt++) {
      const read = await manager.withWriter(move.from, move.family, async (connection) => {
        for (;;) {
          const columns = await readColumns(connection, fromDb, table);
          if (columns === undefined) throw new Error(`the table of "${move.family}" is missing on shard "${move.from}"`);
          const batch = await readBatch(connection, table, columns.names, move.copiedUpTo, high, limit);
          const after = await readColumns(connection, fromDb, table);
          if (after !== undefined && after.names.join('\u0000') === columns.names.join('\u0000')) return { columns, batch };
        }
      });
      const { columns, batch } = read;
      const position = batch.tuples.length < limit ? high : batch.lastId;
      await this.prepareTarget(move, target, columns);
      // The source's checksum runs on its server while the batch is written on the other.
      const sourceSum = manager.withWriter(move.from, move.family, (connection) => rangeSum(connection, table, columns.names, move.copiedUpTo, position));
      sourceSum.catch(() => undefined);
      const copied = await manager.withWriter(move.to, move.family, async (connection, info) => {
        await writeBatch(connection, staging, columns.names, batch, Math.floor((info.maxAllowedPacket - 1024) / 3));
        return rangeSum(connection, staging, columns.names, move.copiedUpTo, position);
      });
      const source = await sourceSum;
      if (source.rows === copied.rows && source.sum === copied.sum) return { rows: batch.tuples.length, position };
      this.logger.warn({ family: move.family, moveId: move.moveId, after: move.copiedUpTo, upTo: position, source, target: copied }, 'family move: a batch did not verify; copying it again');
      await this.clearTarget(move, target, move.copiedUpTo, position);
    }
    throw new Error(`rows ${move.copiedUpTo}-${high} of "${move.family}" differ between shard "${move.from}" and the copy on "${move.to}" after copying them twice`);
  }

  // --- Switching ---

  private async switchOver(start: MoveRecord, lease: string): Promise<void> {
    const { manager } = this;
    let move = await this.keepGoing(start, lease);
    const family = move.family;
    const retired = retiredTableName(move.moveId);
    const target = await this.copyTarget(move);
    const staging = target.table;
    const fromDb = manager.pool(move.from).config.database;
    const toDb = manager.pool(move.to).config.database;
    if (move.state !== 'switching') {
      if (!(await this.catalog.updateMove(move.moveId, { state: 'switching' }, ['copying', 'catching_up']))) throw new MoveStopped('cancelled');
      move = { ...move, state: 'switching' };
    }
    const pauseStarted = Date.now();
    // 1. The fence on the source.
    for (let attempt = 1; ; attempt++) {
      const fenced = await manager.withFamilyLock(move.from, family, async (connection) => {
        if (await tableExists(connection, fromDb, retired)) return true;
        if (!(await tableExists(connection, fromDb, family))) throw new Error(`the table of "${family}" is missing on shard "${move.from}"`);
        await markMovedAway(connection, family, move.moveId);
        try {
          await this.renameWithView(connection, fromDb, family, retired, FENCE_LOCK_WAITS_SECONDS[attempt - 1]);
          return true;
        } catch (error) {
          if ((error as { errno?: unknown }).errno !== 1205) throw error;
          await clearMovedAway(connection, family);
          return false;
        }
      });
      if (fenced) break;
      if (attempt >= FENCE_ATTEMPTS) throw new Error(`could not fence "${family}" on shard "${move.from}": long queries or transactions held its table ${FENCE_ATTEMPTS} times`);
      this.logger.info({ family, moveId: move.moveId, attempt }, 'family move: the table was busy, switching again after a catch-up');
      move = await this.copyUpTo(move, family, await this.settledHighWater(move), lease, target);
    }
    // 2. The last rows (every writer of the old table has finished: RENAME waited for them), and the Idempotency-Keys.
    const promoted =
      target.merge === null &&
      (await manager.withWriter(move.to, family, async (connection) => !(await tableExists(connection, toDb, staging)) && (await tableExists(connection, toDb, family))));
    if (!promoted) {
      // Every column the source has now (one added after the last batch too), then the rows after the last batch.
      const columns = await manager.withWriter(move.from, family, (connection) => readColumns(connection, fromDb, retired));
      if (columns === undefined) throw new Error(`the fenced table of "${family}" is missing on shard "${move.from}"`);
      await this.prepareTarget(move, target, columns);
      await this.clearTarget(move, target, move.copiedUpTo);
      const head = await manager.withWriter(move.from, family, (connection) => maxId(connection, retired));
      move = await this.copyUpTo(move, retired, head, undefined, target);
      const keys = await manager.withWriter(move.from, family, (connection) => readIdempotencyKeys(connection, family));
      await manager.withWriter(move.to, family, (connection, info) => writeIdempotencyKeys(connection, keys, Math.floor((info.maxAllowedPacket - 1024) / 3)));
    }
    if (!promoted && target.merge === null) {
      // 3. The copy becomes the family on the target.
      await manager.withFamilyLock(move.to, family, async (connection) => {
        if (await tableExists(connection, toDb, family)) {
          if ((await countRows(connection, family)) > 0) throw new Error(`shard "${move.to}" already has a non-empty table "${family}"; move it away or drop it, then move again`);
          await dropTable(connection, family);
        }
        await clearMovedAway(connection, family);
        await this.renameWithView(connection, toDb, staging, family);
      });
    }
    // 4. The placement.
    if (!(await this.catalog.switchPlacement(move.moveId, family, move.from, move.to, this.options.sourceGraceSeconds))) {
      throw new Error(`the catalog no longer places "${family}" on shard "${move.from}"; the move was not switched`);
    }
    manager.forgetPlacement(family);
    this.logger.info({ family, moveId: move.moveId, from: move.from, to: move.to, rows: move.copiedRows, pauseMs: Date.now() - pauseStarted }, 'family moved');
    // 5. The source's leftovers.
    await manager
      .withWriter(move.from, family, (connection) => deleteIdempotencyKeys(connection, family))
      .catch((error: unknown) => this.logger.warn({ err: error, family }, 'family move: old Idempotency-Keys left on the source'));
    if (this.options.sourceGraceSeconds === 0) {
      const done = await this.catalog.getMove(move.moveId);
      if (done !== undefined) await this.dropRetired(done).catch(() => undefined);
    }
  }

  /** RENAME under the shard's raw_logs view lock, and the view rebuilt before the lock goes (raw_logs queries see at most an instant of error 1356, which they retry). */
  private async renameWithView(connection: PooledConnection, database: string, from: string, to: string, lockWaitSeconds = 1): Promise<void> {
    const timeout = this.manager.lockTimeoutSeconds;
    const run = (sql: string, bindings?: readonly unknown[]): Promise<unknown> => queryOn(connection, sql, bindings ?? []).then((rows) => [rows]);
    const lock = await queryOn<Array<{ ok: number | null }>>(connection, 'SELECT GET_LOCK(?, ?) AS ok', [RAW_LOGS_VIEW_LOCK, timeout]);
    if (lock[0]?.ok !== 1) throw new Error('timed out waiting for the raw_logs view lock');
    try {
      await renameTable(connection, from, to, lockWaitSeconds);
      await refreshRawLogsView(run, database, timeout);
    } finally {
      await queryOn(connection, 'SELECT RELEASE_LOCK(?)', [RAW_LOGS_VIEW_LOCK]).catch(() => undefined);
    }
  }

  /** Undoes the fence of a move that failed before its placement switched: the family table gets its name back on the source. */
  private async unfence(move: MoveRecord): Promise<void> {
    const placement = await this.catalog.getPlacement(move.family);
    if (placement === undefined || !placement.shards.includes(move.from)) return;
    const retired = retiredTableName(move.moveId);
    const fromDb = this.manager.pool(move.from).config.database;
    const toDb = this.manager.pool(move.to).config.database;
    // A target that was already promoted goes back to being the staging copy (dropped next); a merged part stays.
    if ((await this.copyTarget(move)).merge === null) await this.manager
      .withFamilyLock(move.to, move.family, async (connection) => {
        if (!(await tableExists(connection, toDb, stagingTableName(move.moveId))) && (await tableExists(connection, toDb, move.family))) {
          await this.renameWithView(connection, toDb, move.family, stagingTableName(move.moveId));
        }
      })
      .catch(() => undefined);
    await this.manager.withFamilyLock(move.from, move.family, async (connection) => {
      if (await tableExists(connection, fromDb, retired)) {
        if (!(await tableExists(connection, fromDb, move.family))) await this.renameWithView(connection, fromDb, retired, move.family);
      }
      await clearMovedAway(connection, move.family);
    });
  }

  /** Drops the staging copy on the target; a target that is down keeps it (an internal table nothing reads). */
  private async dropStaging(move: MoveRecord): Promise<void> {
    const target = await this.copyTarget(move).catch(() => undefined);
    if (target?.merge != null) {
      // Merging into a live part: what this move copied there goes, nothing else (the range is the moving part's).
      const merge = target.merge;
      await this.clearTarget(move, target, merge.after, merge.upTo).catch((error: unknown) =>
        this.logger.warn({ err: error, moveId: move.moveId, shard: move.to }, 'family move: the rows copied into the target part could not be removed'),
      );
      return;
    }
    await this.manager
      .withWriter(move.to, move.family, (connection) => dropTable(connection, stagingTableName(move.moveId)))
      .catch((error: unknown) => this.logger.warn({ err: error, moveId: move.moveId, shard: move.to }, 'family move: the staging copy on the target could not be dropped'));
  }

  /** Drops the source's retired table of a done move and records it. */
  private async dropRetired(move: MoveRecord): Promise<void> {
    await this.manager.withWriter(move.from, move.family, (connection) => dropTable(connection, retiredTableName(move.moveId)));
    await this.catalog.updateMove(move.moveId, { sourceDropInSeconds: null });
  }

  private alreadyMoving(move: MoveRecord | undefined, why?: string): AppError {
    if (move === undefined) return new AppError('FAMILY_MOVING', 'the family is moving already; GET its move to follow it', {});
    return new AppError(
      'FAMILY_MOVING',
      `log family "${move.family}" is ${move.state === 'queued' ? 'queued to move' : 'moving'} from shard "${move.from}" to "${move.to}" (move ${move.moveId}, ${move.state}); ${why ?? `wait for it (GET /api/families/${move.family}/move) or cancel it (DELETE)`}`,
      { family: move.family, moveId: move.moveId, state: move.state },
    );
  }
}
