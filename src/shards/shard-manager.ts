/**
 * The shard manager: owns every shard's pools, resolves a family to its
 * shard (catalog first; the ring only proposes a shard for a family never
 * placed), and creates or evolves family tables safely while other gateway
 * processes do the same. Caches hold only what cannot give a wrong answer
 * when stale: the known columns only grow (a missing column is re-checked
 * before any DDL), and a placement changes only when a move switches the
 * family to another shard (services/move-service.ts), which fences the old
 * shard first: its table is renamed away, so a statement sent there with a
 * stale placement fails whole (ER_NO_SUCH_TABLE) and {@link onCurrentShard}
 * re-reads the catalog and runs it again where the family now lives.
 */
import { createHash } from 'node:crypto';
import type { Knex } from 'knex';
import type { Logger } from '../logging/logger.js';
import { AppError } from '../errors/app-error.js';
import { isDuplicateColumnError, isNoSuchTableError, isViewInvalidError, translateMysqlError } from '../errors/mysql-errors.js';
import { mergeSchemas, type DeclaredField } from '../schema/declared-schema.js';
import { declaredTypeOfColumn } from '../schema/type-mapping.js';
import { columnNameKey, ID_COLUMN, INGESTED_AT_COLUMN, RAW_COLUMN, quoteIdentifier } from '../schema/identifiers.js';
import { refreshRawLogsView } from './raw-logs-view.js';
import { addColumnsSql, addRawColumnSql, createFamilyTableSql, familyLockName } from '../schema/table-ddl.js';
import type { Catalog, FamilyPart, Placement } from './catalog.js';
import type { HashRing } from './ring.js';
import type { ServerInfo, ShardPool } from './shard-pool.js';
import { withConnection, withTimeout, type PooledConnection } from './connection.js';
import { writeInTransaction, type StatementParts } from './write-transaction.js';
import { findIdempotentResponse, forgetExpiredKey, purgeExpiredKeys, type IdempotencyEntry } from './idempotency-store.js';
import { deletePurgeBatch, type PurgeBatch, type PurgeBatchResult } from './purge-batch.js';
import { familyMovedError, isFamilyMovedError, MOVED_FAMILIES_TABLE, queryOn } from './family-copy.js';

/** A family as the gateway knows it: where it lives and its declared fields. */
export interface FamilyInfo {
  family: string;
  shard: string;
  fields: DeclaredField[];
}

/** Dependencies of the shard manager, all created by app.ts. */
export interface ShardManagerOptions {
  shards: readonly ShardPool[];
  catalog: Catalog;
  ring: HashRing;
  maxColumns: number;
  defaultRetentionSeconds: number | null;
  logger: Logger;
  /** Seconds to wait for another process's DDL on the same family; default 30. */
  ddlLockTimeoutSeconds?: number;
  /** Milliseconds a statement that met a family mid-switch waits for the move to finish; default 5000. */
  switchWaitMs?: number;
}

/** Answers whether a family has a move switching it to another shard right now (the move service sets it). */
export type SwitchingProbe = (family: string) => Promise<boolean>;

/**
 * How long a process trusts the parts it read of a family, milliseconds. A
 * new part becomes active for writers PART_ACTIVATION_SECONDS after it is
 * recorded, several times this, so every reader knows a part before any
 * row is written into it (clock skew between gateways included).
 */
export const PARTS_TTL_MS = 1000;

/** Seconds between recording a new part and writing into it (see PARTS_TTL_MS). */
export const PART_ACTIVATION_SECONDS = 5;

/**
 * Ids of part i of a spread family start at i * PART_ID_SPAN: each part's
 * ids stay unique across parts and grow with ingest order, and up to 1024
 * parts stay below 2^53 (exact as JSON numbers).
 */
export const PART_ID_SPAN = 2 ** 43;

/** Most parts a family may be spread over. */
export const MAX_PARTS = 1024;

interface ColumnInfoRow {
  name: string;
  dataType: string;
  columnType: string;
}

/** Routes families to shards and keeps their tables in step with their schemas. */
export class ShardManager {
  readonly catalog: Catalog;
  private readonly pools: ReadonlyMap<string, ShardPool>;
  private readonly ring: HashRing;
  private readonly maxColumns: number;
  private readonly defaultRetentionSeconds: number | null;
  private readonly logger: Logger;
  private readonly ddlLockTimeoutSeconds: number;
  /** family -> shard id; re-read when a statement finds the family moved away (onCurrentShard). */
  private readonly placementCache = new Map<string, string>();
  private readonly switchWaitMs: number;
  /**
   * Every spread family's parts, as one catalog read (when it was started,
   * Date.now()); read again once PARTS_TTL_MS old, since any process may
   * spread or widen a family. One query per process and second, whatever
   * the number of families.
   */
  private spreadSnapshot: { parts: ReadonlyMap<string, FamilyPart[]>; at: number } | undefined;
  private spreadLoading: Promise<ReadonlyMap<string, FamilyPart[]>> | undefined;
  /** `family@shard` -> how many of the family's fields that part's table is known to have (spread families). */
  private readonly partColumns = new Map<string, number>();
  /** family -> next part to write into (round-robin per process). */
  private readonly nextPart = new Map<string, number>();
  /** Set by the move service: whether a family is being switched now. */
  switchingProbe: SwitchingProbe = () => Promise.resolve(false);
  /** family -> declared fields known to exist as columns; only ever grows. */
  private readonly columnCache = new Map<string, DeclaredField[]>();
  /** Families whose table this process has seen with its `_raw` column (tables of older gateways get it at first use). */
  private readonly rawColumnReady = new Set<string>();

  constructor(options: ShardManagerOptions) {
    this.pools = new Map(options.shards.map((pool) => [pool.id, pool]));
    this.catalog = options.catalog;
    this.ring = options.ring;
    this.maxColumns = options.maxColumns;
    this.defaultRetentionSeconds = options.defaultRetentionSeconds;
    this.logger = options.logger;
    this.ddlLockTimeoutSeconds = options.ddlLockTimeoutSeconds ?? 30;
    this.switchWaitMs = options.switchWaitMs ?? 5000;
  }

  /** Every configured shard, in configuration order. */
  get shards(): ShardPool[] {
    return [...this.pools.values()];
  }

  /**
   * The pool of shard `id`. Throws SHARD_UNAVAILABLE when the catalog names a
   * shard this process was not configured with (a configuration mistake that
   * must not silently route elsewhere).
   */
  pool(id: string): ShardPool {
    const pool = this.pools.get(id);
    if (pool === undefined) {
      throw new AppError(
        'SHARD_UNAVAILABLE',
        `shard "${id}" is recorded in the catalog but not configured in this gateway; add it to --shards with the same name`,
        { shard: id },
      );
    }
    return pool;
  }

  /** The shard holding `family`, or undefined when it was never placed. */
  async shardOf(family: string): Promise<string | undefined> {
    const cached = this.placementCache.get(family);
    if (cached !== undefined) return cached;
    const placement = await this.catalog.getPlacement(family);
    if (placement === undefined) return undefined;
    this.placementCache.set(family, placement.shard);
    return placement.shard;
  }

  /**
   * Forgets what this process cached of `family`'s placement and table (its
   * shard, and that its table has `_raw`); the columns stay known (they
   * are the family's, on whichever shard).
   */
  forgetPlacement(family: string): void {
    this.placementCache.delete(family);
    this.rawColumnReady.delete(family);
    this.spreadSnapshot = undefined;
  }

  /**
   * Runs `work`, and once more for every time it fails because one of
   * `families` is no longer where this process's cache placed it (a move
   * switched it away: ER_NO_SUCH_TABLE on the old shard, the fence's marker,
   * or a raw_logs view caught mid-change). Before each retry the placements
   * are re-read from the catalog; while a move of one of them is switching,
   * it waits (at most switchWaitMs) for the switch to end. Any other error,
   * or the same failure with nothing moved, is thrown as is. `work` must be
   * safe to run again after such a failure (every write is one transaction
   * that failed whole).
   */
  async onCurrentShard<T>(families: readonly string[], work: () => Promise<T>): Promise<T> {
    for (let attempt = 0; ; attempt++) {
      try {
        return await work();
      } catch (error) {
        if (attempt >= 3) throw error;
        if (isViewInvalidError(error)) {
          // raw_logs while a moved family leaves it or joins it: rebuilt within the same lock, an instant later.
          await new Promise((resolve) => setTimeout(resolve, 100));
          continue;
        }
        const moved = isNoSuchTableError(error) || isFamilyMovedError(error);
        if (!moved || families.length === 0 || !(await this.placementsChanged(families))) throw error;
      }
    }
  }

  /**
   * Re-reads the placements of `families`; true when one of them changed,
   * or was switching and stopped (waiting up to switchWaitMs for that).
   */
  private async placementsChanged(families: readonly string[]): Promise<boolean> {
    const deadline = Date.now() + this.switchWaitMs;
    let waited = false;
    for (;;) {
      let changed = false;
      let switching = false;
      for (const family of families) {
        const cached = this.placementCache.get(family);
        const cachedParts = this.spreadSnapshot?.parts.get(family)?.map((part) => part.shard).join('\u0000');
        const placement = await this.catalog.getPlacement(family);
        this.forgetPlacement(family);
        if (placement !== undefined) this.placementCache.set(family, placement.shard);
        if (placement?.shard !== cached || (cachedParts !== undefined && placement?.shards.join('\u0000') !== cachedParts)) changed = true;
        else if (await this.switchingProbe(family)) switching = true;
      }
      if (changed) return true;
      if (!switching) return waited;
      if (Date.now() >= deadline) return false;
      waited = true;
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }

  /**
   * The parts of `family` (a single part 0 on its shard when it is not
   * spread), or undefined when it was never placed; read again from the
   * catalog once PARTS_TTL_MS old.
   */
  async partsOf(family: string): Promise<FamilyPart[] | undefined> {
    const known = this.knownPartsOf(family);
    if (known !== undefined) return known;
    const spread = (await this.spreadParts()).get(family);
    if (spread !== undefined && spread.length > 0) return spread;
    const shard = await this.shardOf(family);
    return shard === undefined ? undefined : [{ shard, index: 0, active: true }];
  }

  /**
   * What {@link partsOf} would answer when this process already knows it
   * (a fresh spread snapshot, and the family's part list or cached
   * placement), without a promise; undefined when only the catalog can say,
   * and then the caller awaits partsOf (which starts with this).
   */
  knownPartsOf(family: string): FamilyPart[] | undefined {
    const snapshot = this.spreadSnapshot;
    if (snapshot === undefined || Date.now() - snapshot.at >= PARTS_TTL_MS) return undefined;
    const spread = snapshot.parts.get(family);
    if (spread !== undefined && spread.length > 0) return spread;
    const shard = this.placementCache.get(family);
    return shard === undefined ? undefined : [{ shard, index: 0, active: true }];
  }

  /** See {@link spreadSnapshot}; concurrent callers share one read. */
  private spreadParts(): Promise<ReadonlyMap<string, FamilyPart[]>> {
    const snapshot = this.spreadSnapshot;
    if (snapshot !== undefined && Date.now() - snapshot.at < PARTS_TTL_MS) return Promise.resolve(snapshot.parts);
    if (this.spreadLoading === undefined) {
      const at = Date.now();
      this.spreadLoading = this.catalog
        .listAllParts()
        .then((parts) => {
          this.spreadSnapshot = { parts, at };
          return parts;
        })
        .finally(() => {
          this.spreadLoading = undefined;
        });
    }
    return this.spreadLoading;
  }

  /**
   * The shard the next write of `family` goes to: its own shard, or for a
   * spread family the next active part in turn (round-robin in this
   * process), skipping `exclude` (parts that just failed). Undefined when
   * the family was never placed, or no part is left.
   */
  async writePartOf(family: string, exclude: ReadonlySet<string> = new Set()): Promise<string | undefined> {
    const parts = await this.partsOf(family);
    if (parts === undefined) return undefined;
    const usable = parts.filter((part) => part.active && !exclude.has(part.shard));
    if (usable.length === 0) return undefined;
    const turn = this.nextPart.get(family) ?? 0;
    this.nextPart.set(family, turn + 1);
    return (usable[turn % usable.length] as FamilyPart).shard;
  }

  /**
   * Spreads `family` over `shards` (docs/big-families.md): creates its table
   * on every shard it is not on yet, with every stored column and ids from
   * part index * PART_ID_SPAN, then records the parts (the new ones take
   * writes PART_ACTIVATION_SECONDS later). A family not placed yet is placed
   * on the first shard. The shards it is on must all be listed (a spread
   * family is only widened). Returns the parts as recorded.
   * Throws BAD_USER_INPUT (a part left out, too many parts), SCHEMA_CONFLICT
   * (a non-empty table of that name on a new shard), SHARD_UNAVAILABLE.
   */
  async spreadFamily(family: string, shards: readonly string[]): Promise<FamilyPart[]> {
    for (const id of shards) this.pool(id);
    let placement = await this.catalog.getPlacement(family);
    if (placement === undefined) {
      const home = shards[0] as string;
      await this.withShard(home, family, (pool) => this.evolveTable(pool, family, []));
      await this.catalog.placeFamily(family, home, this.defaultRetentionSeconds);
      placement = await this.catalog.getPlacement(family);
      if (placement === undefined) throw new Error(`placement of ${family} vanished`);
    }
    const existing = await this.catalog.getParts(family);
    const current = existing.length === 0 ? [{ shard: placement.shard, index: 0, active: true }] : existing;
    const left = current.filter((part) => !shards.includes(part.shard));
    if (left.length > 0) {
      throw new AppError(
        'BAD_USER_INPUT',
        `log family "${family}" has events on ${left.map((p) => `"${p.shard}"`).join(', ')}; a placement may only add shards, so list them too`,
        { family, field: 'shards', missing: left.map((p) => p.shard) },
      );
    }
    const added = shards.filter((id) => !current.some((part) => part.shard === id));
    if (current.length + added.length > MAX_PARTS) {
      throw new AppError('BAD_USER_INPUT', `a family may be spread over at most ${MAX_PARTS} shards`, { family, field: 'shards', limit: MAX_PARTS });
    }
    const fields = await this.catalog.getColumns(family);
    let index = Math.max(...current.map((part) => part.index));
    const planned = added.map((shard) => ({ shard, index: ++index }));
    for (const part of planned) {
      await this.withShard(part.shard, family, (pool) => this.createPartTable(pool, family, fields, part.index));
    }
    await this.catalog.addParts(family, [...(existing.length === 0 ? [{ shard: placement.shard, index: 0 }] : []), ...planned], PART_ACTIVATION_SECONDS);
    this.spreadSnapshot = undefined;
    if (added.length > 0) this.logger.info({ family, shards, added }, 'family spread');
    return (await this.partsOf(family)) ?? [];
  }

  /**
   * Under the family's lock on `pool`: the table of part `index` with
   * `fields`, its ids starting at index * PART_ID_SPAN, and the shard's
   * raw_logs view over it. An empty table of that name already there (a
   * placement race, an earlier try) is reused; one with rows is refused.
   */
  private async createPartTable(pool: ShardPool, family: string, fields: readonly DeclaredField[], index: number): Promise<void> {
    await this.underFamilyLock(pool, family, async (raw) => {
      // A family that once moved away from this shard comes back as a part.
      await raw(`DELETE FROM ${MOVED_FAMILIES_TABLE} WHERE family = ?`, [family]).catch(() => undefined);
      const [tables] = (await raw('SELECT COUNT(*) AS n FROM information_schema.TABLES WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ?', [pool.config.database, family])) as [
        Array<{ n: number | string }>,
      ];
      if (Number(tables[0]?.n ?? 0) > 0) {
        const [rows] = (await raw(`SELECT COUNT(*) AS n FROM ${quoteIdentifier(family)}`)) as [Array<{ n: number | string }>];
        if (Number(rows[0]?.n ?? 0) > 0) {
          throw new AppError(
            'SCHEMA_CONFLICT',
            `shard "${pool.id}" already has a table "${family}" with rows that the gateway does not know of; move or drop it, then spread the family again`,
            { family, shard: pool.id },
          );
        }
      }
      await raw(createFamilyTableSql(family, fields));
      await raw(`ALTER TABLE ${quoteIdentifier(family)} AUTO_INCREMENT = ${index * PART_ID_SPAN}`);
      const missing = await this.checkColumns(raw, pool, family, fields);
      if (missing === undefined) {
        throw new AppError('INVALID_FAMILY_NAME', `"${family}" names something on shard "${pool.id}" that is not a table; choose another family name`, { family, shard: pool.id });
      }
      if (missing.length > 0) await raw(addColumnsSql(family, missing));
      await refreshRawLogsView((sql, bindings) => raw(sql, (bindings ?? []) as Knex.Value[]), pool.config.database, this.ddlLockTimeoutSeconds);
    });
  }

  /**
   * Makes part `shard` of a spread family hold every field in `fields`
   * before a write goes there (a part that was down when a column was added
   * gets it now); once per process per number of fields.
   */
  async ensurePartColumns(shard: string, family: string, fields: readonly DeclaredField[]): Promise<void> {
    const key = `${family}@${shard}`;
    if ((this.partColumns.get(key) ?? -1) >= fields.length) return;
    await this.withShard(shard, family, (pool) => this.evolveTable(pool, family, fields));
    this.partColumns.set(key, fields.length);
  }

  /** The family's placement and declared fields, or undefined when it was never placed. Reads the catalog (a family may have moved). */
  async findFamily(family: string): Promise<FamilyInfo | undefined> {
    const placement = await this.catalog.getPlacement(family);
    if (placement === undefined) return undefined;
    const shard = placement.shard;
    this.placementCache.set(family, shard);
    const fields = await this.catalog.getColumns(family);
    this.rememberColumns(family, fields);
    return { family, shard, fields };
  }

  /** Every placement in the catalog (with retention), ordered by family. */
  async listPlacements(): Promise<Placement[]> {
    const placements = await this.catalog.listPlacements();
    for (const p of placements) this.placementCache.set(p.family, p.shard);
    return placements;
  }

  /**
   * Runs `work` against shard `id` once it is bootstrapped, translating
   * driver errors (SHARD_UNAVAILABLE naming the shard, ...).
   */
  async withShard<T>(id: string, family: string | undefined, work: (pool: ShardPool) => Promise<T>): Promise<T> {
    const pool = this.pool(id);
    try {
      // Bootstrapped already (every request after the first): no promise to wait for.
      if (pool.serverInfo === undefined) await pool.ready();
      return await work(pool);
    } catch (error) {
      throw translateMysqlError(error, family === undefined ? { shard: id } : { shard: id, family });
    }
  }

  /**
   * Runs `work` on one reader connection of shard `id`: a READ ONLY session
   * with the statement time limit, for users' SQL and structured reads.
   * Aborting `signal` ends it at once: the statement is killed on the server
   * and the connection destroyed (shards/connection.ts).
   */
  withReader<T>(id: string, family: string | undefined, work: (connection: PooledConnection) => Promise<T>, signal?: AbortSignal): Promise<T> {
    return this.withShard(id, family, (pool) => withConnection(pool.reader, work, signal === undefined ? {} : { signal }));
  }

  /**
   * Runs `work` on one writer session of shard `id`, with the server's info:
   * federation stages TEMPORARY tables there, which live as long as the session.
   * Aborting `signal` ends it as for {@link withReader} (the session, and its
   * temporary tables, end with it).
   */
  withSession<T>(id: string, work: (connection: PooledConnection, info: ServerInfo) => Promise<T>, signal?: AbortSignal): Promise<T> {
    return this.withShard(id, undefined, async (pool) => {
      const info = await pool.ready();
      return withConnection(pool.writer, (connection) => work(connection, info), signal === undefined ? {} : { signal });
    });
  }

  /** The server's flavor, version and packet size of shard `id` (bootstrapping it if needed). Throws SHARD_UNAVAILABLE. */
  serverInfo(id: string): Promise<ServerInfo> {
    return this.withShard(id, undefined, (pool) => pool.ready());
  }

  /**
   * Runs `statements` as one transaction on shard `id` (shards/write-transaction.ts):
   * all of them or, on any error, none. Throws PAYLOAD_TOO_LARGE before sending
   * a statement larger than the server's max_allowed_packet, else the driver's error
   * translated (SHARD_UNAVAILABLE, ...); a duplicate key keeps `serverCode` ER_DUP_ENTRY.
   */
  writeTransaction(id: string, family: string, statements: readonly StatementParts[]): Promise<void> {
    return this.withShard(id, family, async (pool) => writeInTransaction(pool.ingest, statements, (await pool.ready()).maxAllowedPacket));
  }

  /** The stored first answer to `key` of `family` on shard `id` and its request's hash, if recorded at or after `notBefore`. */
  findIdempotentResponse(id: string, family: string, key: string, notBefore: string): Promise<IdempotencyEntry | undefined> {
    return this.withShard(id, family, (pool) => findIdempotentResponse(pool.writer, family, key, notBefore));
  }

  /** Removes an expired entry of `key` (recorded before `before`) so the key can be used again. */
  forgetExpiredIdempotencyKey(id: string, family: string, key: string, before: string): Promise<void> {
    return this.withShard(id, family, (pool) => forgetExpiredKey(pool.writer, family, key, before));
  }

  /** Deletes up to `batch` Idempotency-Keys recorded before `before` on shard `id`; returns how many went. */
  purgeExpiredIdempotencyKeys(id: string, before: string, batch: number): Promise<number> {
    return this.withShard(id, undefined, (pool) => purgeExpiredKeys(pool.writer, before, batch));
  }

  /** One purge batch on shard `id` (shards/purge-batch.ts). */
  deletePurgeBatch(id: string, batch: PurgeBatch): Promise<PurgeBatchResult> {
    return this.withShard(id, batch.family, (pool) => deletePurgeBatch(pool.writer, batch));
  }

  /** InnoDB's row estimate of each of `families` on shard `id` (information_schema.TABLES.TABLE_ROWS). */
  rowEstimates(id: string, families: readonly string[]): Promise<Map<string, number>> {
    return this.withShard(id, undefined, async (pool) => {
      const rows = (await pool.writer('information_schema.TABLES')
        .select({ name: 'TABLE_NAME', rows: 'TABLE_ROWS' })
        .where('TABLE_SCHEMA', pool.config.database)
        .whereIn('TABLE_NAME', families)) as Array<{ name: string; rows: number | string | null }>;
      return new Map(rows.map((row) => [row.name, Number(row.rows ?? 0)]));
    });
  }

  /** Checks that shard `id` answers `SELECT 1` within `timeoutMs`; returns its info. Throws SHARD_UNAVAILABLE or a timeout Error. */
  probe(id: string, timeoutMs: number): Promise<ServerInfo> {
    return this.withShard(id, undefined, async (pool) => {
      await withTimeout(pool.writer.raw('SELECT 1'), timeoutMs);
      return pool.ready();
    });
  }

  /** Distinct shard ids holding at least one family (so raw_logs rows), in configuration order. */
  async shardsWithFamilies(): Promise<string[]> {
    const placed = new Set(await this.catalog.shardsWithFamilies());
    return this.shards.map((pool) => pool.id).filter((id) => placed.has(id));
  }

  /**
   * Makes `family` ready to take rows with the `requested` fields: places it
   * if new, checks the fields against the stored schema (SCHEMA_CONFLICT,
   * INVALID_FIELD_NAME on a case collision, TOO_MANY_COLUMNS), and creates the
   * table or adds the missing columns. Safe to run concurrently from many
   * processes. Returns the family with every field now stored. A request that
   * fails here leaves no placement behind (see {@link placeFamily}); it may
   * leave an empty table or new empty columns, which are harmless.
   * Throws INVALID_FAMILY_NAME when the name is something other than a base
   * table on the shard (a view, an engine-provided table).
   */
  async prepareIngest(family: string, requested: readonly DeclaredField[]): Promise<FamilyInfo> {
    const known = await this.shardOf(family);
    const placed = known === undefined ? await this.placeFamily(family, requested) : undefined;
    if (placed?.ready !== undefined) return placed.ready;
    const shard = known ?? (placed as { shard: string }).shard;
    if (known !== undefined) await this.ensureRawColumn(shard, family);
    const cached = this.columnCache.get(family);
    if (cached !== undefined) {
      const { merged, added } = mergeSchemas(cached, requested, this.maxColumns);
      if (added.length === 0) return { family, shard, fields: merged };
    }
    // Not known here yet, or new fields: the catalog may already have them.
    const stored = await this.catalog.getColumns(family);
    const { merged, added } = mergeSchemas(stored, requested, this.maxColumns);
    if (added.length === 0 && stored.length > 0) {
      this.rememberColumns(family, stored);
      return { family, shard, fields: merged };
    }
    await this.withShard(shard, family, (pool) => this.evolveTable(pool, family, merged));
    return this.recordColumns(family, shard, merged, requested);
  }

  /**
   * {@link prepareIngest} for part `part` of a spread family: the fields are
   * checked against the family's stored schema, new ones are added on that
   * part (its table's real types checked under the lock) and recorded, and
   * the part is given every stored column it lacks (the other parts get
   * theirs before their own next write). No other part is touched, so a part
   * that is down does not stop writes to the others.
   */
  async prepareSpreadIngest(family: string, part: string, requested: readonly DeclaredField[]): Promise<FamilyInfo> {
    const cached = this.columnCache.get(family);
    let fields: DeclaredField[];
    const quick = cached === undefined ? undefined : mergeSchemas(cached, requested, this.maxColumns);
    if (quick !== undefined && quick.added.length === 0) {
      fields = quick.merged;
    } else {
      const stored = await this.catalog.getColumns(family);
      const { merged, added } = mergeSchemas(stored, requested, this.maxColumns);
      if (added.length > 0) {
        await this.withShard(part, family, (pool) => this.evolveTable(pool, family, merged));
        const recorded = await this.catalog.recordColumns(family, merged);
        this.rememberColumns(family, recorded);
        fields = mergeSchemas(recorded, requested, this.maxColumns).merged;
        this.partColumns.set(`${family}@${part}`, recorded.length);
      } else {
        this.rememberColumns(family, stored);
        fields = merged;
      }
    }
    await this.ensurePartColumns(part, family, this.columnCache.get(family) ?? fields);
    return { family, shard: part, fields };
  }

  // --- Columns decided without a declared schema (osquery, schemaless JSON): new columns only, stored types win ---

  /**
   * Like {@link prepareIngest}, for fields the gateway decided itself rather
   * than a client declared: a requested field the family already has (the
   * same column, ignoring case) keeps its stored name and type, whatever the
   * request says; only the others become new columns, and a column another
   * process added meanwhile keeps the type it got first. So it never answers
   * SCHEMA_CONFLICT; TOO_MANY_COLUMNS when the new columns pass the cap.
   * Returns every stored field of the family (the caller maps its fields to
   * them by columnNameKey).
   */
  async prepareLenientIngest(family: string, requested: readonly DeclaredField[]): Promise<FamilyInfo> {
    const known = await this.shardOf(family);
    if (known === undefined) {
      // A new family: nothing stored to win, so the requested fields are its schema.
      const placed = await this.placeFamily(family, requested);
      if (placed.ready !== undefined) return placed.ready;
    }
    const shard = known ?? (await this.shardOf(family));
    if (shard === undefined) throw new Error(`family ${family} has no placement after placing it`);
    if (known !== undefined) await this.ensureRawColumn(shard, family);
    const newFields = (stored: readonly DeclaredField[]): DeclaredField[] => {
      const keys = new Set(stored.map((f) => columnNameKey(f.name)));
      const fresh = new Map<string, DeclaredField>();
      for (const field of requested) {
        const key = columnNameKey(field.name);
        if (!keys.has(key) && !fresh.has(key)) fresh.set(key, field);
      }
      return [...fresh.values()];
    };
    const cached = this.columnCache.get(family);
    if (cached !== undefined && newFields(cached).length === 0) return { family, shard, fields: cached };
    const stored = await this.catalog.getColumns(family);
    const added = newFields(stored);
    if (added.length === 0) {
      this.rememberColumns(family, stored);
      return { family, shard, fields: stored };
    }
    if (stored.length + added.length > this.maxColumns) {
      throw new AppError(
        'TOO_MANY_COLUMNS',
        `adding ${added.length} new field(s) would give the family "${family}" ${stored.length + added.length} fields, more than the limit of ${this.maxColumns} columns per family; send fewer distinct fields`,
        { limit: this.maxColumns, count: stored.length + added.length },
      );
    }
    const evolved = await this.withShard(shard, family, (pool) => this.addColumnsLenient(pool, family, added));
    const fields = await this.catalog.recordColumns(family, evolved);
    this.rememberColumns(family, fields);
    return { family, shard, fields };
  }

  /**
   * Under the family's lock: each of `wanted` that the table already has (by
   * name, ignoring case) is answered with the table's own name and type;
   * the rest are added. Returns `wanted` as the table now holds them.
   */
  private addColumnsLenient(pool: ShardPool, family: string, wanted: readonly DeclaredField[]): Promise<DeclaredField[]> {
    return this.underFamilyLock(pool, family, async (raw) => {
      const [rows] = (await raw(
        `SELECT COLUMN_NAME AS name, DATA_TYPE AS dataType, COLUMN_TYPE AS columnType
           FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ?`,
        [pool.config.database, family],
      )) as [ColumnInfoRow[]];
      const existing = new Map(rows.map((row) => [columnNameKey(row.name), row]));
      const out: DeclaredField[] = [];
      const missing: DeclaredField[] = [];
      for (const field of wanted) {
        const column = existing.get(columnNameKey(field.name));
        if (column === undefined) {
          missing.push(field);
          out.push(field);
          continue;
        }
        const type = declaredTypeOfColumn({ dataType: column.dataType, columnType: column.columnType, checkJson: column.dataType.toLowerCase() === 'longtext' });
        if (type === undefined || column.name === ID_COLUMN || column.name === INGESTED_AT_COLUMN || column.name === RAW_COLUMN) {
          throw new AppError(
            'INVALID_FIELD_NAME',
            `field "${field.name}" of log family "${family}" is the column "${column.name}", which the gateway does not write (${column.columnType}); rename the field`,
            { family, field: field.name, existing: column.name },
          );
        }
        out.push({ name: column.name, type });
      }
      if (missing.length > 0) {
        try {
          await raw(addColumnsSql(family, missing));
        } catch (error) {
          if (!isDuplicateColumnError(error)) throw error;
        }
        this.logger.info({ family, shard: pool.id, added: missing.map((f) => f.name) }, 'family columns added');
      }
      return out;
    });
  }

  /**
   * Runs `work` on one writer connection of shard `id` holding the family's
   * DDL lock (the lock every schema change of the family takes there), for
   * the steps of a move that must not race with DDL.
   */
  withFamilyLock<T>(id: string, family: string, work: (connection: PooledConnection, info: ServerInfo) => Promise<T>): Promise<T> {
    return this.withShard(id, family, async (pool) => {
      const info = await pool.ready();
      return withConnection(pool.writer, async (connection) => {
        const lock = familyLockName(family, (text) => createHash('md5').update(text).digest('hex'));
        const rows = await queryOn<Array<{ ok: number | null }>>(connection, 'SELECT GET_LOCK(?, ?) AS ok', [lock, this.ddlLockTimeoutSeconds]);
        if (rows[0]?.ok !== 1) {
          throw new AppError('SHARD_UNAVAILABLE', `timed out after ${this.ddlLockTimeoutSeconds}s waiting for a schema change on "${family}"; retry`, { shard: id, family });
        }
        try {
          return await work(connection, info);
        } finally {
          await queryOn(connection, 'SELECT RELEASE_LOCK(?)', [lock]).catch(() => undefined);
        }
      });
    });
  }

  /** Runs `work` on one writer connection of shard `id` (bootstrapped), errors translated. */
  withWriter<T>(id: string, family: string | undefined, work: (connection: PooledConnection, info: ServerInfo) => Promise<T>): Promise<T> {
    return this.withShard(id, family, async (pool) => {
      const info = await pool.ready();
      return withConnection(pool.writer, (connection) => work(connection, info));
    });
  }

  /** Seconds a move's step waits for another process's DDL on the family (the DDL lock's timeout). */
  get lockTimeoutSeconds(): number {
    return this.ddlLockTimeoutSeconds;
  }

  /** Runs `work` holding the family's GET_LOCK on one writer connection of `pool` (SHARD_UNAVAILABLE on a lock timeout). */
  private async underFamilyLock<T>(
    pool: ShardPool,
    family: string,
    work: (raw: (sql: string, bindings?: readonly Knex.Value[]) => Promise<unknown>) => Promise<T>,
  ): Promise<T> {
    const knex = pool.writer;
    const connection: unknown = await knex.client.acquireConnection();
    const lock = familyLockName(family, (text) => createHash('md5').update(text).digest('hex'));
    // Without bindings the text goes to the server untouched: knex would take a
    // `?` inside a quoted field name (`what?`) for a placeholder.
    const raw = (sql: string, bindings: readonly Knex.Value[] = []): Promise<unknown> =>
      (bindings.length === 0 ? knex.raw(sql) : knex.raw(sql, bindings)).connection(connection) as unknown as Promise<unknown>;
    try {
      const [lockRows] = (await raw('SELECT GET_LOCK(?, ?) AS ok', [lock, this.ddlLockTimeoutSeconds])) as [Array<{ ok: number | null }>];
      if (lockRows[0]?.ok !== 1) {
        throw new AppError(
          'SHARD_UNAVAILABLE',
          `timed out after ${this.ddlLockTimeoutSeconds}s waiting for another gateway's schema change on "${family}"; retry`,
          { shard: pool.id, family },
        );
      }
      try {
        return await work(raw);
      } finally {
        await raw('SELECT RELEASE_LOCK(?)', [lock]).catch(() => undefined);
      }
    } finally {
      await knex.client.releaseConnection(connection);
    }
  }

  /**
   * Records `evolved` (now columns of the table on `shard`) in the catalog
   * and answers the family with every stored field. Recorded after the DDL
   * connection went back to the pool: the catalog may share that pool (it
   * lives on the first shard by default), and holding one connection while
   * waiting for another starves the pool under load. The columns' real types
   * were already checked under the lock, so the order of catalog writes
   * cannot admit a conflicting type.
   */
  private async recordColumns(family: string, shard: string, evolved: readonly DeclaredField[], requested: readonly DeclaredField[]): Promise<FamilyInfo> {
    const fields = await this.catalog.recordColumns(family, evolved);
    const final = mergeSchemas(fields, requested, this.maxColumns);
    this.rememberColumns(family, fields);
    return { family, shard, fields: final.merged };
  }

  private rememberColumns(family: string, fields: DeclaredField[]): void {
    const known = this.columnCache.get(family);
    if (known === undefined || fields.length > known.length) this.columnCache.set(family, fields);
  }

  /**
   * Places a family the catalog does not know, table first:
   *
   * 1. the ring proposes a shard;
   * 2. the table is created there with the requested fields, under the
   *    family's lock, and checked to be a base table (evolveTable);
   * 3. only then is the placement inserted, first writer wins, and re-read;
   * 4. the fields are recorded in the catalog.
   *
   * Why this order: a placement is what makes a family exist (describe,
   * families, queries, purges all start from the catalog), and it can never
   * be taken back safely, since another process may already be writing rows
   * through it. So it is written only once the table it points to exists.
   * A request that fails before step 3 (bad name, shard down, lock timeout,
   * type conflict with a stray table) leaves no catalog row, at most an
   * empty table that no request can reach; the retry, or any other process,
   * proposes the same shard (the ring is deterministic for one --shards
   * list), finds the table, and places it. A failure after step 3 leaves an
   * existing, empty family, which is consistent (its table is there).
   *
   * When step 3 finds the family placed on another shard (a process with a
   * different --shards list placed it meanwhile), the empty table just made
   * is left alone rather than dropped: it is unreachable (every route goes
   * through the catalog), while dropping by name could race with a process
   * that believes in it. Answers only `{ shard }` of the winner then, and the
   * caller prepares the table there as for any placed family; else also
   * `ready`, the family with its fields stored.
   */
  private async placeFamily(family: string, requested: readonly DeclaredField[]): Promise<{ shard: string; ready?: FamilyInfo }> {
    const proposed = this.ring.shardFor(family);
    const { merged } = mergeSchemas([], requested, this.maxColumns);
    await this.withShard(proposed, family, (pool) => this.evolveTable(pool, family, merged));
    const placement = await this.catalog.placeFamily(family, proposed, this.defaultRetentionSeconds);
    this.placementCache.set(family, placement.shard);
    if (placement.shard !== proposed) {
      this.logger.warn(
        { family, shard: placement.shard, proposed },
        'family was placed on another shard meanwhile (gateways with different --shards?); its empty table on the proposed shard is unused',
      );
      return { shard: placement.shard };
    }
    this.logger.info({ family, shard: placement.shard }, 'family placed');
    return { shard: proposed, ready: await this.recordColumns(family, proposed, merged, requested) };
  }

  /**
   * Once per family and process: a table created by an older gateway has no
   * `_raw` column, which every INSERT now writes; it is added (under the
   * family's lock, evolveTable) and the shard's raw_logs view replaced.
   * A family whose table does not exist yet is left to evolveTable.
   */
  private async ensureRawColumn(shard: string, family: string): Promise<void> {
    if (this.rawColumnReady.has(family)) return;
    await this.withShard(shard, family, async (pool) => {
      const rows = (await pool.writer.raw(
        'SELECT COUNT(*) AS tables, SUM(c.COLUMN_NAME = ?) AS raws FROM information_schema.TABLES t LEFT JOIN information_schema.COLUMNS c ON c.TABLE_SCHEMA = t.TABLE_SCHEMA AND c.TABLE_NAME = t.TABLE_NAME WHERE t.TABLE_SCHEMA = ? AND t.TABLE_NAME = ?',
        [RAW_COLUMN, pool.config.database, family],
      )) as unknown as [Array<{ tables: number | string; raws: number | string | null }>];
      const row = rows[0][0];
      if (Number(row?.tables ?? 0) === 0) return;
      if (Number(row?.raws ?? 0) === 0) await this.evolveTable(pool, family, []);
      this.rawColumnReady.add(family);
    });
  }

  /**
   * Under the family's GET_LOCK on its shard: CREATE TABLE IF NOT EXISTS, add
   * missing columns, verify every column's type through information_schema.
   * The caller then records the schema in the catalog. Each step is safe to re-run.
   * MySQL DDL commits implicitly, so the lock, not a transaction, is what
   * keeps two processes from racing on one table.
   */
  private async evolveTable(pool: ShardPool, family: string, wanted: readonly DeclaredField[]): Promise<void> {
    await this.underFamilyLock(pool, family, async (raw) => {
      const [before] = (await raw(
        `SELECT COUNT(*) AS tables, (SELECT COUNT(*) FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ? AND COLUMN_NAME = ?) AS raws
           FROM information_schema.TABLES WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ?`,
        [pool.config.database, family, RAW_COLUMN, pool.config.database, family],
      )) as [Array<{ tables: number | string; raws: number | string }>];
      const existed = Number(before[0]?.tables ?? 0) > 0;
      if (!existed) {
        // Moved away (shards/family-copy.ts): re-creating the table here would take writes that nobody reads.
        const [marks] = (await raw(`SELECT COUNT(*) AS n FROM information_schema.TABLES WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ?`, [
          pool.config.database,
          MOVED_FAMILIES_TABLE,
        ])) as [Array<{ n: number | string }>];
        if (Number(marks[0]?.n ?? 0) > 0) {
          const [moved] = (await raw(`SELECT COUNT(*) AS n FROM ${MOVED_FAMILIES_TABLE} WHERE family = ?`, [family])) as [Array<{ n: number | string }>];
          if (Number(moved[0]?.n ?? 0) > 0) throw familyMovedError(family, pool.id);
        }
      }
      await raw(createFamilyTableSql(family, wanted));
      const missing = await this.checkColumns(raw, pool, family, wanted);
      if (missing === undefined) {
        throw new AppError(
          'INVALID_FAMILY_NAME',
          `"${family}" names something on shard "${pool.id}" that is not a table (a view, a sequence or an engine-provided table such as seq_1_to_10); choose another family name`,
          { family, shard: pool.id },
        );
      }
      if (missing.length > 0) {
        try {
          await raw(addColumnsSql(family, missing));
        } catch (error) {
          if (!isDuplicateColumnError(error)) throw error;
        }
        const stillMissing = (await this.checkColumns(raw, pool, family, wanted)) ?? wanted;
        if (stillMissing.length > 0) throw new Error(`columns ${stillMissing.map((f) => f.name).join(', ')} missing after ALTER`);
        this.logger.info({ family, shard: pool.id, added: missing.map((f) => f.name) }, 'family columns added');
      }
      let addedRaw = false;
      if (existed && Number(before[0]?.raws ?? 0) === 0) {
        // A table of an older gateway: its raw copies were in the raw_logs table (now the legacy branch of the view).
        try {
          await raw(addRawColumnSql(family));
          addedRaw = true;
        } catch (error) {
          if (!isDuplicateColumnError(error)) throw error;
        }
      }
      // Before the caller records the placement: a placed family is always in its shard's raw_logs view.
      if (!existed || addedRaw) {
        await refreshRawLogsView((sql, bindings) => raw(sql, (bindings ?? []) as Knex.Value[]), pool.config.database, this.ddlLockTimeoutSeconds);
      }
    });
  }

  /**
   * Compares `wanted` with the table's real columns. Returns the fields that
   * are missing, or undefined when `family` is not a base table in the
   * shard's database (CREATE TABLE IF NOT EXISTS succeeds without creating
   * anything when the name is taken by a view or a sequence, or resolved by
   * an engine such as MariaDB's Sequence engine); throws SCHEMA_CONFLICT when
   * a column exists with another type and INVALID_FIELD_NAME when it exists
   * under another letter case.
   */
  private async checkColumns(
    raw: (sql: string, bindings?: readonly Knex.Value[]) => Promise<unknown>,
    pool: ShardPool,
    family: string,
    wanted: readonly DeclaredField[],
  ): Promise<DeclaredField[] | undefined> {
    const [tables] = (await raw(
      `SELECT TABLE_TYPE AS type FROM information_schema.TABLES WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ?`,
      [pool.config.database, family],
    )) as [Array<{ type: string }>];
    if (tables[0]?.type !== 'BASE TABLE') return undefined;
    const [rows] = (await raw(
      `SELECT COLUMN_NAME AS name, DATA_TYPE AS dataType, COLUMN_TYPE AS columnType
         FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ?`,
      [pool.config.database, family],
    )) as [ColumnInfoRow[]];
    const existing = new Map<string, ColumnInfoRow>();
    for (const row of rows) {
      if (row.name === ID_COLUMN || row.name === INGESTED_AT_COLUMN || row.name === RAW_COLUMN) continue;
      existing.set(row.name.toLowerCase(), row);
    }
    const missing: DeclaredField[] = [];
    for (const field of wanted) {
      const column = existing.get(field.name.toLowerCase());
      if (column === undefined) {
        missing.push(field);
        continue;
      }
      if (column.name !== field.name) {
        throw new AppError(
          'INVALID_FIELD_NAME',
          `field "${field.name}" collides with existing column "${column.name}" (MySQL column names ignore case); use the exact name "${column.name}"`,
          { family, field: field.name, existing: column.name },
        );
      }
      const storedType = declaredTypeOfColumn({
        dataType: column.dataType,
        columnType: column.columnType,
        checkJson: column.dataType.toLowerCase() === 'longtext',
      });
      if (storedType !== field.type) {
        throw new AppError(
          'SCHEMA_CONFLICT',
          `field "${field.name}" of log family "${family}" is stored as ${storedType ?? column.columnType}, not ${field.type}; send it as ${storedType ?? column.columnType} or use a new field name`,
          { family, field: field.name, storedType: storedType ?? column.columnType, requestedType: field.type },
        );
      }
    }
    return missing;
  }

  /** Closes every shard's pools. */
  async close(): Promise<void> {
    await Promise.allSettled(this.shards.map((pool) => pool.close()));
  }
}

