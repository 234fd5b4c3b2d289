/**
 * Health use case: is every shard and the catalog reachable right now.
 * Used by /readyz and by GraphQL's `shards`.
 */
import type { ShardManager } from '../shards/shard-manager.js';
import type { Catalog, Placement } from '../shards/catalog.js';
import { withTimeout } from '../shards/connection.js';

/** One shard as operators see it (never with credentials). */
export interface ShardStatus {
  name: string;
  address: string;
  database: string;
  reachable: boolean;
  /** Server version, when reachable. */
  version: string | null;
  /** Why it is unreachable, when it is not. */
  error: string | null;
}

/** A shard the catalog places families on but this gateway was not configured with. */
export interface UnconfiguredShard {
  name: string;
  /** What is wrong and how to fix it. */
  error: string;
}

/** The readiness of the whole gateway. */
export interface Readiness {
  ready: boolean;
  catalog: { reachable: boolean; error: string | null };
  shards: ShardStatus[];
  /** Shards that hold families but are missing from --shards (their families answer 503): not ready while any. */
  unconfiguredShards: UnconfiguredShard[];
}

/** How long a readiness probe waits for a server, milliseconds. */
const PROBE_TIMEOUT_MS = 3000;

/** Probes shards and the catalog. */
export class HealthService {
  private readonly manager: ShardManager;
  private readonly catalog: Catalog;

  constructor(manager: ShardManager, catalog: Catalog) {
    this.manager = manager;
    this.catalog = catalog;
  }

  /**
   * Pings every shard (SELECT 1 with a short timeout) and the catalog, and
   * checks that every shard the catalog places families on is configured.
   */
  async readiness(): Promise<Readiness> {
    const [catalog, shards, unconfiguredShards] = await Promise.all([this.probeCatalog(), this.shardStatuses(), this.unconfiguredShards()]);
    return {
      ready: catalog.reachable && shards.every((s) => s.reachable) && unconfiguredShards.length === 0,
      catalog,
      shards,
      unconfiguredShards,
    };
  }

  /** Shards named by placements but not configured; none when the catalog cannot be read (its probe says so). */
  private async unconfiguredShards(): Promise<UnconfiguredShard[]> {
    let placed: string[];
    try {
      placed = await withTimeout(this.catalog.shardsWithFamilies(), PROBE_TIMEOUT_MS);
    } catch {
      return [];
    }
    const configured = new Set(this.manager.shards.map((pool) => pool.id));
    return placed
      .filter((id) => !configured.has(id))
      .map((name) => ({
        name,
        error: `families are placed on shard "${name}", which this gateway is not configured with; add it to --shards as ${name}=host:port (a shard's name must not change once families are placed on it)`,
      }));
  }

  /** Every configured shard with its reachability. */
  async shardStatuses(): Promise<ShardStatus[]> {
    return Promise.all(
      this.manager.shards.map(async (pool): Promise<ShardStatus> => {
        const base = { name: pool.id, address: pool.address, database: pool.config.database };
        try {
          const info = await this.manager.probe(pool.id, PROBE_TIMEOUT_MS);
          return { ...base, reachable: true, version: info.version, error: null };
        } catch (error) {
          return { ...base, reachable: false, version: null, error: error instanceof Error ? error.message : String(error) };
        }
      }),
    );
  }

  /** Every placement (for listing a shard's families). */
  placements(): Promise<Placement[]> {
    return this.manager.listPlacements();
  }

  private async probeCatalog(): Promise<{ reachable: boolean; error: string | null }> {
    try {
      await withTimeout(this.catalog.ping(), PROBE_TIMEOUT_MS);
      return { reachable: true, error: null };
    } catch (error) {
      return { reachable: false, error: error instanceof Error ? error.message : String(error) };
    }
  }
}

