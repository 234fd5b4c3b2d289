/**
 * Health use case: is every shard and the catalog reachable right now.
 * Used by /readyz and by GraphQL's `shards`.
 */
import type { ShardManager } from '../shards/shard-manager.js';
import type { Placement } from '../shards/catalog.js';

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

/** The readiness of the whole gateway. */
export interface Readiness {
  ready: boolean;
  catalog: { reachable: boolean; error: string | null };
  shards: ShardStatus[];
}

/** Probes shards and the catalog. */
export class HealthService {
  private readonly manager: ShardManager;

  constructor(manager: ShardManager) {
    this.manager = manager;
  }

  /** Pings every shard (SELECT 1 with a short timeout) and the catalog. */
  async readiness(): Promise<Readiness> {
    const [catalog, shards] = await Promise.all([this.probeCatalog(), this.shardStatuses()]);
    return { ready: catalog.reachable && shards.every((s) => s.reachable), catalog, shards };
  }

  /** Every configured shard with its reachability. */
  async shardStatuses(): Promise<ShardStatus[]> {
    return Promise.all(
      this.manager.shards.map(async (pool): Promise<ShardStatus> => {
        const base = { name: pool.id, address: pool.address, database: pool.config.database };
        try {
          const info = await this.manager.withShard(pool.id, undefined, async (p) => {
            await withTimeout(p.writer.raw('SELECT 1'), 3000);
            return p.ready();
          });
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
      await withTimeout(this.manager.catalog.ping(), 3000);
      return { reachable: true, error: null };
    } catch (error) {
      return { reachable: false, error: error instanceof Error ? error.message : String(error) };
    }
  }
}

function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer within ${ms} ms`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}
