/**
 * Parent types of GraphQL object types whose resolvers work from something
 * other than the schema's shape (codegen.yml `mappers`). Family and Table map
 * to the describe service's TableDescription directly.
 */
import type { ShardStatus } from '../../services/health-service.js';

/** A shard's status plus the families placed on it. */
export interface ShardView extends ShardStatus {
  families: string[];
}
