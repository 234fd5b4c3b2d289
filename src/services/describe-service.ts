/**
 * Describe use case: every family table on every shard with its columns
 * (seed keys name / nullable / type), placement and an approximate row count.
 * Columns come from the catalog, the shared truth, so describe still answers
 * when a shard is down; the row estimate of a down shard is null.
 */
import type { ShardManager } from '../shards/shard-manager.js';
import type { Catalog, FamilySource, Placement } from '../shards/catalog.js';
import type { DeclaredField } from '../schema/declared-schema.js';
import { describeColumns, type ColumnDescription } from '../schema/columns.js';

/** One described family table. */
export interface TableDescription {
  name: string;
  columns: ColumnDescription[];
  shard: string;
  /** Every shard holding the family's events: `[shard]`, or all its parts when it is spread. */
  shards: string[];
  /** InnoDB's row estimate (information_schema.TABLES.TABLE_ROWS); null when the shard is unreachable. */
  rowEstimate: number | null;
  /** Retention policy in seconds, null when events are kept forever. */
  retentionSeconds: number | null;
  createdAt: string;
  /** Where the family's name came from (`osquery`), null for families named by a client. */
  source: string | null;
  /** The name as sent (an osquery query name such as `pack_incident-response_processes`); null with `source`. */
  originalName: string | null;
}

/** What describe answers. `tables` is the seed-compatible key. */
export interface DescribeResult {
  tables: TableDescription[];
}

/** Describes families from the catalog and the shards. */
export class DescribeService {
  private readonly manager: ShardManager;
  private readonly catalog: Catalog;

  constructor(manager: ShardManager, catalog: Catalog) {
    this.manager = manager;
    this.catalog = catalog;
  }

  /**
   * Every family, ordered by name; with `canSee`, only the families it
   * accepts (an access token's patterns), the others not even asked about.
   * Throws SHARD_UNAVAILABLE only when the catalog is unreachable.
   */
  async describe(canSee?: (family: string) => boolean): Promise<DescribeResult> {
    const all = await this.manager.listPlacements();
    const placements = canSee === undefined ? all : all.filter((p) => canSee(p.family));
    const columns = await this.catalog.listAllColumns();
    const sources = await this.catalog.listFamilySources();
    const estimates = await this.rowEstimates(placements);
    return {
      tables: placements.map((p) => this.describePlacement(p, columns.get(p.family) ?? [], estimates.get(p.family) ?? null, sources.get(p.family))),
    };
  }

  /** One family, or undefined when it does not exist. */
  async describeFamily(family: string): Promise<TableDescription | undefined> {
    const placement = await this.catalog.getPlacement(family);
    if (placement === undefined) return undefined;
    const fields = await this.catalog.getColumns(family);
    const estimates = await this.rowEstimates([placement]);
    return this.describePlacement(placement, fields, estimates.get(family) ?? null, await this.catalog.getFamilySource(family));
  }

  private describePlacement(p: Placement, fields: readonly DeclaredField[], rowEstimate: number | null, source: FamilySource | undefined): TableDescription {
    return {
      name: p.family,
      columns: describeColumns(fields),
      shard: p.shard,
      shards: p.shards,
      rowEstimate,
      retentionSeconds: p.retentionSeconds,
      createdAt: p.createdAt,
      source: source?.kind ?? null,
      originalName: source?.originalName ?? null,
    };
  }

  /** family -> TABLE_ROWS, asking each shard once; unreachable shards are skipped. */
  private async rowEstimates(placements: readonly Placement[]): Promise<Map<string, number>> {
    const byShard = new Map<string, string[]>();
    for (const p of placements) for (const shard of p.shards) byShard.set(shard, [...(byShard.get(shard) ?? []), p.family]);
    const estimates = new Map<string, number>();
    await Promise.all(
      [...byShard.entries()].map(async ([shard, families]) => {
        try {
          // A spread family's estimate is the sum over its parts.
          for (const [name, rows] of await this.manager.rowEstimates(shard, families)) estimates.set(name, (estimates.get(name) ?? 0) + rows);
        } catch {
          // A down shard only loses its estimates; describe itself still answers.
        }
      }),
    );
    return estimates;
  }
}
