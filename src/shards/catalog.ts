/**
 * The catalog: the shared truth of every gateway process. It records where
 * each family lives (placement), the schema declared for it, and its
 * retention policy. Rows are written first-writer-wins (INSERT IGNORE, then
 * re-read), so concurrent processes agree without coordination. It must not
 * touch family tables; that is the shard manager's job.
 */
import type { Knex } from 'knex';
import type { DeclaredField } from '../schema/declared-schema.js';
import { parseDeclaredType } from '../schema/type-mapping.js';
import { translateMysqlError } from '../errors/mysql-errors.js';
import { sqlDateTimeToIso } from '../schema/time.js';

/** Catalog table: one row per family. */
export const PLACEMENTS_TABLE = 'databalancer_placements';
/** Catalog table: one row per declared field of a family. */
export const COLUMNS_TABLE = 'databalancer_columns';
/** Catalog table: leases that keep background jobs (the purger) to one process at a time. */
export const LEASES_TABLE = 'databalancer_leases';
/** Catalog table: osquery nodes enrolled by any gateway process (SHA-256 of each node key, never the key). */
export const OSQUERY_NODES_TABLE = 'databalancer_osquery_nodes';
/** Catalog table: where a family's name came from (an osquery query name), one row per family, first writer wins. */
export const FAMILY_SOURCES_TABLE = 'databalancer_family_sources';

/** Catalog table: the parts of spread families, one row per (family, shard); a family without rows here lives on its placement's shard alone. */
export const FAMILY_PARTS_TABLE = 'databalancer_family_parts';

/** One part of a family: the shard holding it and its index (0: the shard the family was placed on). */
export interface FamilyPart {
  shard: string;
  index: number;
  /** False until its activation time: readers already include it, writers do not use it yet. */
  active: boolean;
}

/** Catalog table: moves of families between shards, one row per move (shards/family-copy.ts, services/move-service.ts). */
export const MOVES_TABLE = 'databalancer_moves';

/** The states of a move; the first four are active (the family has at most one active move). */
export const MOVE_STATES = ['queued', 'copying', 'catching_up', 'switching', 'done', 'failed', 'cancelled'] as const;

/** One of {@link MOVE_STATES}. */
export type MoveState = (typeof MOVE_STATES)[number];

/** True for a state the move can still leave (queued, copying, catching_up, switching). */
export function isActiveMoveState(state: MoveState): boolean {
  return state === 'queued' || state === 'copying' || state === 'catching_up' || state === 'switching';
}

/** A move of a family from one shard to another, as the catalog records it. */
export interface MoveRecord {
  moveId: string;
  family: string;
  from: string;
  to: string;
  state: MoveState;
  /** Rows copied (and verified) so far. */
  copiedRows: number;
  /** Rows of the family on the source when the copy started (an estimate while ingest goes on). */
  totalRows: number;
  /** Highest id copied and verified so far (decimal text; '0' before the first batch). */
  copiedUpTo: string;
  /** ISO-8601 UTC. */
  startedAt: string;
  finishedAt: string | null;
  error: string | null;
  /** When the renamed source table may be dropped (ISO-8601 UTC); null once dropped or when never renamed. */
  sourceDropAfter: string | null;
}

interface MoveRow {
  move_id: string;
  family: string;
  from_shard: string;
  to_shard: string;
  state: string;
  copied_rows: number | string;
  total_rows: number | string;
  copied_up_to: number | string;
  started_at: string;
  finished_at: string | null;
  error: string | null;
  source_drop_after: string | null;
}

function toMove(row: MoveRow): MoveRecord {
  return {
    moveId: row.move_id,
    family: row.family,
    from: row.from_shard,
    to: row.to_shard,
    state: (MOVE_STATES as readonly string[]).includes(row.state) ? (row.state as MoveState) : 'failed',
    copiedRows: Number(row.copied_rows),
    totalRows: Number(row.total_rows),
    copiedUpTo: String(row.copied_up_to),
    startedAt: sqlDateTimeToIso(row.started_at),
    finishedAt: row.finished_at === null ? null : sqlDateTimeToIso(row.finished_at),
    error: row.error,
    sourceDropAfter: row.source_drop_after === null ? null : sqlDateTimeToIso(row.source_drop_after),
  };
}

/** What a move's progress update may change. */
export interface MoveUpdate {
  state?: MoveState;
  copiedRows?: number;
  totalRows?: number;
  copiedUpTo?: string;
  finished?: boolean;
  /** Stamps started_at now (a queued move starting). */
  started?: boolean;
  error?: string | null;
  /** Seconds from now until the renamed source may be dropped; null clears it (dropped). */
  sourceDropInSeconds?: number | null;
}

/** Where a family's name came from: `kind` (`osquery`) and the name as sent. */
export interface FamilySource {
  kind: string;
  originalName: string;
}

/** An enrolled osquery node. */
export interface OsqueryNode {
  hostIdentifier: string;
  /** When it enrolled, ISO-8601 UTC. */
  enrolledAt: string;
}

/** Where a family lives, and its policy. */
export interface Placement {
  family: string;
  /** The shard the family was placed on (its part 0 when spread). */
  shard: string;
  /** Every shard holding a part of the family, by part index; `[shard]` when it is not spread. */
  shards: string[];
  /** When the placement was decided, ISO-8601 UTC. */
  createdAt: string;
  /** Retention policy in seconds; null keeps events forever. */
  retentionSeconds: number | null;
}

interface PlacementRow {
  family: string;
  shard: string;
  created_at: string;
  retention_seconds: number | string | null;
}

interface ColumnRow {
  name: string;
  declared_type: string;
}

function toPlacement(row: PlacementRow, parts: readonly FamilyPart[] = []): Placement {
  return {
    family: row.family,
    shard: row.shard,
    shards: parts.length === 0 ? [row.shard] : parts.map((part) => part.shard),
    createdAt: sqlDateTimeToIso(row.created_at),
    retentionSeconds: row.retention_seconds === null ? null : Number(row.retention_seconds),
  };
}

/** Access to the catalog tables over one Knex pool. */
export class Catalog {
  readonly id: string;
  private readonly knex: Knex;
  private readonly bootstrap: () => Promise<unknown>;
  private readyPromise: Promise<void> | undefined;

  /**
   * @param knex pool on the catalog's database
   * @param id the catalog's shard id (for error details)
   * @param bootstrap makes sure the database exists before the tables are created
   */
  constructor(knex: Knex, id: string, bootstrap: () => Promise<unknown>) {
    this.knex = knex;
    this.id = id;
    this.bootstrap = bootstrap;
  }

  /** Creates the catalog tables if missing; retried on the next call after a failure. Throws SHARD_UNAVAILABLE. */
  ready(): Promise<void> {
    if (this.readyPromise === undefined) {
      this.readyPromise = this.createTables().catch((error: unknown) => {
        this.readyPromise = undefined;
        throw translateMysqlError(error, { shard: this.id });
      });
    }
    return this.readyPromise;
  }

  private async createTables(): Promise<void> {
    await this.bootstrap();
    await this.knex.raw(
      `CREATE TABLE IF NOT EXISTS ${PLACEMENTS_TABLE} (
         family VARCHAR(64) CHARACTER SET ascii COLLATE ascii_bin NOT NULL PRIMARY KEY,
         shard VARCHAR(255) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL,
         created_at DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
         retention_seconds BIGINT NULL,
         KEY shard (shard)
       ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci`,
    );
    await this.knex.raw(
      `CREATE TABLE IF NOT EXISTS ${COLUMNS_TABLE} (
         family VARCHAR(64) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
         name VARCHAR(64) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL,
         declared_type VARCHAR(16) CHARACTER SET ascii NOT NULL,
         position INT NOT NULL,
         PRIMARY KEY (family, name)
       ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci`,
    );
    await this.knex.raw(
      `CREATE TABLE IF NOT EXISTS ${LEASES_TABLE} (
         name VARCHAR(191) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL PRIMARY KEY,
         holder VARCHAR(191) NOT NULL,
         expires_at DATETIME(6) NOT NULL
       ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci`,
    );
    await this.knex.raw(
      `CREATE TABLE IF NOT EXISTS ${OSQUERY_NODES_TABLE} (
         key_hash CHAR(64) CHARACTER SET ascii COLLATE ascii_bin NOT NULL PRIMARY KEY,
         host_identifier VARCHAR(255) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL,
         host_details MEDIUMTEXT CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NULL,
         enrolled_at DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6)
       ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci`,
    );
    await this.knex.raw(
      `CREATE TABLE IF NOT EXISTS ${FAMILY_PARTS_TABLE} (
         family VARCHAR(64) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
         shard VARCHAR(255) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL,
         part_index INT NOT NULL,
         active_after DATETIME(6) NOT NULL,
         PRIMARY KEY (family, shard),
         UNIQUE KEY family_part (family, part_index)
       ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci`,
    );
    await this.knex.raw(
      `CREATE TABLE IF NOT EXISTS ${MOVES_TABLE} (
         move_id CHAR(16) CHARACTER SET ascii COLLATE ascii_bin NOT NULL PRIMARY KEY,
         family VARCHAR(64) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
         active_family VARCHAR(64) CHARACTER SET ascii COLLATE ascii_bin NULL,
         from_shard VARCHAR(255) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL,
         to_shard VARCHAR(255) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL,
         state VARCHAR(16) CHARACTER SET ascii NOT NULL,
         copied_rows BIGINT NOT NULL DEFAULT 0,
         total_rows BIGINT NOT NULL DEFAULT 0,
         copied_up_to BIGINT NOT NULL DEFAULT 0,
         started_at DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
         finished_at DATETIME(6) NULL,
         error TEXT NULL,
         source_drop_after DATETIME(6) NULL,
         UNIQUE KEY active_family (active_family),
         KEY family_started (family, started_at)
       ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci`,
    );
    await this.knex.raw(
      `CREATE TABLE IF NOT EXISTS ${FAMILY_SOURCES_TABLE} (
         family VARCHAR(64) CHARACTER SET ascii COLLATE ascii_bin NOT NULL PRIMARY KEY,
         kind VARCHAR(16) CHARACTER SET ascii NOT NULL,
         original_name TEXT CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL
       ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci`,
    );
  }

  private async run<T>(work: () => Promise<T>): Promise<T> {
    await this.ready();
    try {
      return await work();
    } catch (error) {
      throw translateMysqlError(error, { shard: this.id });
    }
  }

  /** Round trip to the catalog server; throws SHARD_UNAVAILABLE when it is down. */
  ping(): Promise<void> {
    return this.run(async () => {
      await this.knex.raw('SELECT 1');
    });
  }

  /** The family's placement, or undefined when it was never placed. */
  getPlacement(family: string): Promise<Placement | undefined> {
    return this.run(async () => {
      const rows = (await this.knex(PLACEMENTS_TABLE).where({ family }).select('*')) as PlacementRow[];
      const row = rows[0];
      return row === undefined ? undefined : toPlacement(row, await this.partsUnchecked(family));
    });
  }

  /** The parts of a spread family by index ([] when it is not spread). */
  getParts(family: string): Promise<FamilyPart[]> {
    return this.run(() => this.partsUnchecked(family));
  }

  private async partsUnchecked(family: string): Promise<FamilyPart[]> {
    const rows = (await this.knex(FAMILY_PARTS_TABLE)
      .where({ family })
      .orderBy('part_index')
      .select('shard', 'part_index', this.knex.raw('active_after <= UTC_TIMESTAMP(6) AS active'))) as Array<{ shard: string; part_index: number; active: number }>;
    return rows.map((row) => ({ shard: row.shard, index: Number(row.part_index), active: Number(row.active) === 1 }));
  }

  /** Every spread family's parts by index: family -> parts (families not spread are absent). */
  listAllParts(): Promise<Map<string, FamilyPart[]>> {
    return this.run(async () => {
      const rows = (await this.knex(FAMILY_PARTS_TABLE)
        .orderBy([{ column: 'family' }, { column: 'part_index' }])
        .select('family', 'shard', 'part_index', this.knex.raw('active_after <= UTC_TIMESTAMP(6) AS active'))) as Array<{ family: string; shard: string; part_index: number; active: number }>;
      const parts = new Map<string, FamilyPart[]>();
      for (const row of rows) {
        const list = parts.get(row.family) ?? [];
        list.push({ shard: row.shard, index: Number(row.part_index), active: Number(row.active) === 1 });
        parts.set(row.family, list);
      }
      return parts;
    });
  }

  /**
   * Records parts of `family` (first writer wins per shard and per index).
   * They become active for writers `activeInSeconds` from now: every
   * process re-reads a family's parts at least that often, so none reads
   * without a part that others already write into.
   */
  addParts(family: string, parts: ReadonlyArray<{ shard: string; index: number }>, activeInSeconds: number): Promise<void> {
    return this.run(async () => {
      if (parts.length === 0) return;
      await this.knex
        .insert(
          parts.map((part) => ({
            family,
            shard: part.shard,
            part_index: part.index,
            active_after: part.index === 0 ? this.knex.raw('UTC_TIMESTAMP(6)') : this.knex.raw('UTC_TIMESTAMP(6) + INTERVAL ? SECOND_MICROSECOND', [secondsToInterval(activeInSeconds)]),
          })),
        )
        .into(FAMILY_PARTS_TABLE)
        .onConflict(['family', 'shard'])
        .ignore();
    });
  }

  /**
   * Proposes `shard` for `family`; the first writer wins. Returns the
   * placement as stored, which may name another shard if another process won.
   */
  placeFamily(family: string, shard: string, retentionSeconds: number | null): Promise<Placement> {
    return this.run(async () => {
      await this.knex
        .insert({ family, shard, retention_seconds: retentionSeconds })
        .into(PLACEMENTS_TABLE)
        .onConflict('family')
        .ignore();
      const rows = (await this.knex(PLACEMENTS_TABLE).where({ family }).select('*')) as PlacementRow[];
      const row = rows[0];
      if (row === undefined) throw new Error(`placement of ${family} vanished after insert`);
      return toPlacement(row);
    });
  }

  /** Every placement, ordered by family name. */
  listPlacements(): Promise<Placement[]> {
    return this.run(async () => {
      const rows = (await this.knex(PLACEMENTS_TABLE).select('*').orderBy('family')) as PlacementRow[];
      const partRows = (await this.knex(FAMILY_PARTS_TABLE).orderBy([{ column: 'family' }, { column: 'part_index' }]).select('family', 'shard', 'part_index')) as Array<{
        family: string;
        shard: string;
        part_index: number;
      }>;
      const parts = new Map<string, FamilyPart[]>();
      for (const row of partRows) parts.set(row.family, [...(parts.get(row.family) ?? []), { shard: row.shard, index: Number(row.part_index), active: true }]);
      return rows.map((row) => toPlacement(row, parts.get(row.family)));
    });
  }

  /** The family's declared fields in declaration order (empty when none recorded). */
  getColumns(family: string): Promise<DeclaredField[]> {
    return this.run(() => this.getColumnsUnchecked(family));
  }

  /**
   * Records declared fields (first writer wins per name) and returns the
   * family's fields as now stored, so callers can detect a type that another
   * process recorded first.
   */
  recordColumns(family: string, fields: readonly DeclaredField[]): Promise<DeclaredField[]> {
    return this.run(async () => {
      if (fields.length > 0) {
        const [{ next }] = (await this.knex(COLUMNS_TABLE)
          .where({ family })
          .select(this.knex.raw('COALESCE(MAX(position), 0) + 1 AS next'))) as [{ next: number | string }];
        const start = Number(next);
        await this.knex
          .insert(fields.map((field, i) => ({ family, name: field.name, declared_type: field.type, position: start + i })))
          .into(COLUMNS_TABLE)
          .onConflict(['family', 'name'])
          .ignore();
      }
      return this.getColumnsUnchecked(family);
    });
  }

  private async getColumnsUnchecked(family: string): Promise<DeclaredField[]> {
    const rows = (await this.knex(COLUMNS_TABLE)
      .where({ family })
      .select('name', 'declared_type')
      .orderBy('position')) as ColumnRow[];
    return rows.flatMap((row) => {
      const type = parseDeclaredType(row.declared_type);
      return type === undefined ? [] : [{ name: row.name, type }];
    });
  }

  /** Declared fields of every family: family -> fields in declaration order. */
  listAllColumns(): Promise<Map<string, DeclaredField[]>> {
    return this.run(async () => {
      const rows = (await this.knex(COLUMNS_TABLE)
        .select('family', 'name', 'declared_type')
        .orderBy([{ column: 'family' }, { column: 'position' }])) as Array<ColumnRow & { family: string }>;
      const byFamily = new Map<string, DeclaredField[]>();
      for (const row of rows) {
        const type = parseDeclaredType(row.declared_type);
        if (type === undefined) continue;
        byFamily.set(row.family, [...(byFamily.get(row.family) ?? []), { name: row.name, type }]);
      }
      return byFamily;
    });
  }

  /** Records an enrolled osquery node by the SHA-256 (hex) of its node key. */
  recordOsqueryNode(keyHash: string, hostIdentifier: string, hostDetails: string | null): Promise<void> {
    return this.run(async () => {
      await this.knex
        .insert({ key_hash: keyHash, host_identifier: hostIdentifier.slice(0, 255), host_details: hostDetails })
        .into(OSQUERY_NODES_TABLE)
        .onConflict('key_hash')
        .ignore();
    });
  }

  /** The node whose node key hashes to `keyHash`, or undefined. */
  findOsqueryNode(keyHash: string): Promise<OsqueryNode | undefined> {
    return this.run(async () => {
      const rows = (await this.knex(OSQUERY_NODES_TABLE).where({ key_hash: keyHash }).select('host_identifier', 'enrolled_at')) as Array<{
        host_identifier: string;
        enrolled_at: string;
      }>;
      const row = rows[0];
      return row === undefined ? undefined : { hostIdentifier: row.host_identifier, enrolledAt: sqlDateTimeToIso(row.enrolled_at) };
    });
  }

  /**
   * Claims `family` for `source` (first writer wins) and returns the source
   * as stored: another original name when the family already maps to one.
   */
  claimFamilySource(family: string, source: FamilySource): Promise<FamilySource> {
    return this.run(async () => {
      await this.knex
        .insert({ family, kind: source.kind, original_name: source.originalName })
        .into(FAMILY_SOURCES_TABLE)
        .onConflict('family')
        .ignore();
      const rows = (await this.knex(FAMILY_SOURCES_TABLE).where({ family }).select('kind', 'original_name')) as Array<{ kind: string; original_name: string }>;
      const row = rows[0];
      if (row === undefined) throw new Error(`family source of ${family} vanished after insert`);
      return { kind: row.kind, originalName: row.original_name };
    });
  }

  /** The family's recorded source, or undefined. */
  getFamilySource(family: string): Promise<FamilySource | undefined> {
    return this.run(async () => {
      const rows = (await this.knex(FAMILY_SOURCES_TABLE).where({ family }).select('kind', 'original_name')) as Array<{ kind: string; original_name: string }>;
      const row = rows[0];
      return row === undefined ? undefined : { kind: row.kind, originalName: row.original_name };
    });
  }

  /** Every family's recorded source: family -> source. */
  listFamilySources(): Promise<Map<string, FamilySource>> {
    return this.run(async () => {
      const rows = (await this.knex(FAMILY_SOURCES_TABLE).select('family', 'kind', 'original_name')) as Array<{ family: string; kind: string; original_name: string }>;
      return new Map(rows.map((row) => [row.family, { kind: row.kind, originalName: row.original_name }]));
    });
  }

  /** Sets (or clears, with null) the family's retention. Returns false when the family does not exist. */
  setRetention(family: string, retentionSeconds: number | null): Promise<boolean> {
    return this.run(async () => {
      const updated = await this.knex(PLACEMENTS_TABLE).where({ family }).update({ retention_seconds: retentionSeconds });
      if (updated > 0) return true;
      const rows = (await this.knex(PLACEMENTS_TABLE).where({ family }).select('family')) as unknown[];
      return rows.length > 0;
    });
  }

  /** Distinct shard ids that hold at least one family. */
  shardsWithFamilies(): Promise<string[]> {
    return this.run(async () => {
      const rows = (await this.knex.raw(
        `SELECT shard FROM ${PLACEMENTS_TABLE} UNION SELECT shard FROM ${FAMILY_PARTS_TABLE} ORDER BY shard`,
      )) as unknown as [Array<{ shard: string }>];
      return rows[0].map((row) => row.shard);
    });
  }

  // --- Moves (services/move-service.ts) ---

  /**
   * Records a new move of `family` in state `state` (copying, or queued by a
   * rebalance). At most one active move per family: when there is one
   * already, throws {@link ActiveMoveExists} carrying it.
   */
  createMove(move: { moveId: string; family: string; from: string; to: string; state: 'copying' | 'queued' }): Promise<MoveRecord> {
    return this.run(async () => {
      try {
        await this.knex
          .insert({
            move_id: move.moveId,
            family: move.family,
            active_family: move.family,
            from_shard: move.from,
            to_shard: move.to,
            state: move.state,
            started_at: this.knex.raw('UTC_TIMESTAMP(6)'),
          })
          .into(MOVES_TABLE);
      } catch (error) {
        const code = (error as { code?: unknown }).code;
        if (code === 'ER_DUP_ENTRY') throw new ActiveMoveExists(await this.activeMoveUnchecked(move.family));
        throw error;
      }
      const rows = (await this.knex(MOVES_TABLE).where({ move_id: move.moveId }).select('*')) as MoveRow[];
      const row = rows[0];
      if (row === undefined) throw new Error(`move ${move.moveId} vanished after insert`);
      return toMove(row);
    });
  }

  /** The move `moveId`, or undefined. */
  getMove(moveId: string): Promise<MoveRecord | undefined> {
    return this.run(async () => {
      const rows = (await this.knex(MOVES_TABLE).where({ move_id: moveId }).select('*')) as MoveRow[];
      return rows[0] === undefined ? undefined : toMove(rows[0]);
    });
  }

  /** The family's latest move (active or not), or undefined when it never moved. */
  latestMove(family: string): Promise<MoveRecord | undefined> {
    return this.run(async () => {
      const rows = (await this.knex(MOVES_TABLE).where({ family }).orderBy([{ column: 'started_at', order: 'desc' }, { column: 'move_id', order: 'desc' }]).limit(1).select('*')) as MoveRow[];
      return rows[0] === undefined ? undefined : toMove(rows[0]);
    });
  }

  /** The family's active move, or undefined. */
  activeMove(family: string): Promise<MoveRecord | undefined> {
    return this.run(() => this.activeMoveUnchecked(family));
  }

  private async activeMoveUnchecked(family: string): Promise<MoveRecord | undefined> {
    const rows = (await this.knex(MOVES_TABLE).where({ active_family: family }).select('*')) as MoveRow[];
    return rows[0] === undefined ? undefined : toMove(rows[0]);
  }

  /** Every active move and every finished one whose renamed source still waits to be dropped, oldest first. */
  pendingMoves(): Promise<MoveRecord[]> {
    return this.run(async () => {
      const rows = (await this.knex(MOVES_TABLE)
        .whereNotNull('active_family')
        .orWhereNotNull('source_drop_after')
        .orderBy([{ column: 'started_at' }, { column: 'move_id' }])
        .select('*')) as MoveRow[];
      return rows.map(toMove);
    });
  }

  /**
   * Updates move `moveId` if its state is one of `fromStates` (any state
   * when omitted); true when it did. A move leaving the active states frees
   * its family for the next move. `finished` stamps finished_at.
   */
  updateMove(moveId: string, update: MoveUpdate, fromStates?: readonly MoveState[]): Promise<boolean> {
    return this.run(async () => {
      const set: Record<string, unknown> = {};
      if (update.state !== undefined) {
        set['state'] = update.state;
        if (!isActiveMoveState(update.state)) set['active_family'] = null;
      }
      if (update.copiedRows !== undefined) set['copied_rows'] = update.copiedRows;
      if (update.totalRows !== undefined) set['total_rows'] = update.totalRows;
      if (update.copiedUpTo !== undefined) set['copied_up_to'] = update.copiedUpTo;
      if (update.finished === true) set['finished_at'] = this.knex.raw('UTC_TIMESTAMP(6)');
      if (update.started === true) set['started_at'] = this.knex.raw('UTC_TIMESTAMP(6)');
      if (update.error !== undefined) set['error'] = update.error;
      if (update.sourceDropInSeconds !== undefined) {
        set['source_drop_after'] =
          update.sourceDropInSeconds === null ? null : this.knex.raw('UTC_TIMESTAMP(6) + INTERVAL ? SECOND_MICROSECOND', [secondsToInterval(update.sourceDropInSeconds)]);
      }
      let query = this.knex(MOVES_TABLE).where({ move_id: moveId });
      if (fromStates !== undefined) query = query.whereIn('state', [...fromStates]);
      return (await query.update(set)) > 0;
    });
  }

  /**
   * The switch of a move in the catalog, in one transaction: the family's
   * placement (or, for a spread family, its part) goes from `from` to `to`
   * (only if it is still on `from`) and the move becomes done. False when
   * it was not on `from`.
   */
  switchPlacement(moveId: string, family: string, from: string, to: string, sourceDropInSeconds: number): Promise<boolean> {
    return this.run(() =>
      this.knex.transaction(async (trx) => {
        // A part of a spread family moves in the parts table, and in the placement when it is part 0.
        const partRows = (await trx(FAMILY_PARTS_TABLE).where({ family }).select('shard')) as Array<{ shard: string }>;
        if (partRows.length > 0) {
          if (!partRows.some((row) => row.shard === from)) {
            if (!partRows.some((row) => row.shard === to)) return false;
          } else if (partRows.some((row) => row.shard === to)) {
            // Merged into the part already there: one part fewer.
            await trx(FAMILY_PARTS_TABLE).where({ family, shard: from }).delete();
          } else {
            await trx(FAMILY_PARTS_TABLE).where({ family, shard: from }).update({ shard: to });
          }
          await trx(PLACEMENTS_TABLE).where({ family, shard: from }).update({ shard: to });
        } else {
          const moved = await trx(PLACEMENTS_TABLE).where({ family, shard: from }).update({ shard: to });
          if (moved === 0) {
            const rows = (await trx(PLACEMENTS_TABLE).where({ family }).select('shard')) as Array<{ shard: string }>;
            if (rows[0]?.shard !== to) return false;
          }
        }
        await trx(MOVES_TABLE)
          .where({ move_id: moveId })
          .update({
            state: 'done',
            active_family: null,
            finished_at: trx.raw('UTC_TIMESTAMP(6)'),
            source_drop_after: trx.raw('UTC_TIMESTAMP(6) + INTERVAL ? SECOND_MICROSECOND', [secondsToInterval(sourceDropInSeconds)]),
          });
        return true;
      }),
    );
  }

  /**
   * Takes or renews the lease `name` for `holder` for `ttlMs`; true when
   * `holder` holds it afterwards. A lease expires by itself, so a crashed
   * holder never blocks others for longer than the ttl.
   */
  tryLease(name: string, holder: string, ttlMs: number): Promise<boolean> {
    return this.run(async () => {
      const seconds = ttlMs / 1000;
      await this.knex.raw(
        `INSERT INTO ${LEASES_TABLE} (name, holder, expires_at)
         VALUES (?, ?, UTC_TIMESTAMP(6) + INTERVAL ? SECOND_MICROSECOND)
         ON DUPLICATE KEY UPDATE
           holder = IF(expires_at < UTC_TIMESTAMP(6) OR holder = VALUES(holder), VALUES(holder), holder),
           expires_at = IF(holder = VALUES(holder), VALUES(expires_at), expires_at)`,
        [name, holder, secondsToInterval(seconds)],
      );
      const rows = (await this.knex(LEASES_TABLE).where({ name }).select('holder')) as Array<{ holder: string }>;
      return rows[0]?.holder === holder;
    });
  }

  /** Gives the lease back early if `holder` holds it. */
  releaseLease(name: string, holder: string): Promise<void> {
    return this.run(async () => {
      await this.knex(LEASES_TABLE).where({ name, holder }).delete();
    });
  }
}

/** A move could not be recorded because the family already has an active one. */
export class ActiveMoveExists extends Error {
  constructor(readonly existing: MoveRecord | undefined) {
    super('the family already has an active move');
  }
}

/** 1.5 -> '1.500000' for INTERVAL ... SECOND_MICROSECOND ('S.ffffff'). */
function secondsToInterval(seconds: number): string {
  return seconds.toFixed(6);
}
