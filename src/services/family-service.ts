/**
 * Family use case: one family's description and a page of its rows through a
 * structured filter. The filter is validated against the family's columns
 * as the catalog records them and compiled (query/compile-filter.ts) to one
 * parameterised SELECT run on the family's shard, on a reader session (READ
 * ONLY, statement time limit). No SQL text from a client reaches the
 * database here. Knows nothing of HTTP.
 */
import { badInput, familyNotFound } from '../errors/app-error.js';
import { ID_COLUMN, validateFamilyName } from '../schema/identifiers.js';
import { compileRowsQuery, type FilterColumn } from '../query/compile-filter.js';
import type { CellValue } from '../query/result-types.js';
import { runSelect } from '../query/run-select.js';
import type { ShardManager } from '../shards/shard-manager.js';
import type { DescribeService, TableDescription } from './describe-service.js';

/** A request for a page of a family's rows. Everything but `family` is optional, unchecked client input. */
export interface RowsRequest {
  family: unknown;
  /** A filter tree (see compile-filter.ts); absent or null matches every row. */
  where?: unknown;
  /** Sort keys `[{ field, direction }]`; rows are finally ordered by id. */
  orderBy?: unknown;
  /** Rows at most: 0 to 1000, default 100. */
  limit?: unknown;
  /** Matching rows to skip: 0 to 100000, default 0. */
  offset?: unknown;
}

/** A page of rows. */
export interface RowsResult {
  family: string;
  shard: string;
  /** Rows keyed by column name, `id` first, values typed as in query results. */
  rows: Array<Record<string, CellValue>>;
  limit: number;
  offset: number;
  /** True when more rows match after this page. */
  hasMore: boolean;
  /** Gateway-side wall time, milliseconds. */
  elapsedMs: number;
}

/** Where a family's events go: `spread` when over several shards. */
export interface PlacementView {
  family: string;
  shards: string[];
  spread: boolean;
}

/** Dependencies of the family service. */
export interface FamilyServiceOptions {
  manager: ShardManager;
  describe: DescribeService;
  /** Bytes of rows one page carries at most (query_max_bytes); a page cut by it has fewer rows and hasMore. */
  maxBytes: number;
}

/** Reads single families: their description and their rows. */
export class FamilyService {
  private readonly manager: ShardManager;
  private readonly describer: DescribeService;
  private readonly maxBytes: number;

  constructor(options: FamilyServiceOptions) {
    this.manager = options.manager;
    this.describer = options.describe;
    this.maxBytes = options.maxBytes;
  }

  /**
   * Every family, ordered by name (as describe lists them); with `canSee`,
   * only those it accepts. Throws SHARD_UNAVAILABLE when the catalog is down.
   */
  async list(canSee?: (family: string) => boolean): Promise<TableDescription[]> {
    return (await this.describer.describe(canSee)).tables;
  }

  /** The shards the family's events go to. Throws INVALID_FAMILY_NAME, FAMILY_NOT_FOUND (404), SHARD_UNAVAILABLE. */
  async placement(family: unknown): Promise<PlacementView> {
    const name = validateFamilyName(family);
    const placement = await this.manager.catalog.getPlacement(name);
    if (placement === undefined) throw familyNotFound(name);
    return { family: name, shards: placement.shards, spread: placement.shards.length > 1 };
  }

  /**
   * Spreads the family over `shards` (docs/big-families.md), or widens a
   * spread family; a family not created yet is created spread. Throws
   * INVALID_FAMILY_NAME, BAD_USER_INPUT (not a list of known shards, a shard
   * it is on left out, one shard other than its own), SCHEMA_CONFLICT,
   * SHARD_UNAVAILABLE.
   */
  async setPlacement(family: unknown, shards: unknown): Promise<PlacementView> {
    const name = validateFamilyName(family);
    const known = this.manager.shards.map((pool) => pool.id);
    if (!Array.isArray(shards) || shards.length === 0 || shards.some((s) => typeof s !== 'string')) {
      throw badInput(`send {"shards": ["<shard>", ...]}: the shards to spread "${name}" over, among ${known.join(', ')}`, { field: 'shards' });
    }
    const list = shards as string[];
    const unknown = list.filter((s) => !known.includes(s));
    if (unknown.length > 0) throw badInput(`unknown shard ${unknown.map((s) => `"${s}"`).join(', ')}; use shards among ${known.join(', ')}`, { field: 'shards', unknown });
    if (new Set(list).size !== list.length) throw badInput('a shard is listed twice; list each shard once', { field: 'shards' });
    const placement = await this.manager.catalog.getPlacement(name);
    if (list.length === 1 && placement !== undefined && placement.shards.length === 1 && placement.shard !== list[0]) {
      throw badInput(`log family "${name}" is on "${placement.shard}"; to put it on "${list[0]}" instead, move it (POST /api/families/${name}/move)`, { field: 'shards' });
    }
    const parts = await this.manager.spreadFamily(name, list);
    const shardsNow = parts.map((part) => part.shard);
    return { family: name, shards: shardsNow, spread: shardsNow.length > 1 };
  }

  /** One family. Throws INVALID_FAMILY_NAME, FAMILY_NOT_FOUND (404), SHARD_UNAVAILABLE. */
  async get(family: unknown): Promise<TableDescription> {
    const name = validateFamilyName(family);
    const described = await this.describer.describeFamily(name);
    if (described === undefined) throw familyNotFound(name);
    return described;
  }

  /**
   * A page of the family's rows matching `where`, ordered by `orderBy` then id.
   * Throws INVALID_FAMILY_NAME, BAD_USER_INPUT (unknown column, operator not
   * allowed for the column type, limit/offset out of range), INVALID_VALUE,
   * FAMILY_NOT_FOUND (404), SHARD_UNAVAILABLE (503), QUERY_TIMEOUT (504).
   */
  async rows(request: RowsRequest): Promise<RowsResult> {
    const family = validateFamilyName(request.family);
    return this.manager.onCurrentShard([family], () => this.rowsOnce(family, request));
  }

  private async rowsOnce(family: string, request: RowsRequest): Promise<RowsResult> {
    const started = performance.now();
    const info = await this.manager.findFamily(family);
    if (info === undefined) throw familyNotFound(family);
    const columns: FilterColumn[] = [{ name: ID_COLUMN, type: 'int' }, ...info.fields.map((f) => ({ name: f.name, type: f.type }))];
    const compiled = compileRowsQuery({
      table: family,
      columns,
      where: request.where,
      orderBy: request.orderBy,
      limit: request.limit,
      offset: request.offset,
    });
    // The compiled SELECT asks for limit + 1 rows: one past the cap means more match.
    const page = await this.manager.withReader(info.shard, family, (connection) =>
      runSelect(connection, compiled.sql, { maxRows: compiled.limit, maxBytes: this.maxBytes }, compiled.values),
    );
    return {
      family,
      shard: info.shard,
      rows: page.rows,
      limit: compiled.limit,
      offset: compiled.offset,
      hasMore: page.truncated,
      elapsedMs: Math.round((performance.now() - started) * 1000) / 1000,
    };
  }
}
