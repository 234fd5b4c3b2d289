import type { ServerSpec } from '../../scripts/lib/mariadb-cluster.js';

// What test/setup/global-setup.ts provides to integration tests: `inject('shards')`.
declare module 'vitest' {
  export interface ProvidedContext {
    /** The three throwaway servers shard_a, shard_b, shard_c, in that order. */
    shards: ServerSpec[];
  }
}
