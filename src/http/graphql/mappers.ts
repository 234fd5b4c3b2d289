/**
 * Parent types of GraphQL object types whose resolvers work from something
 * other than the schema's shape (codegen.yml `mappers`). Family and Table map
 * to the describe service's TableDescription directly, Describe to its
 * DescribeResult, RetentionPolicy to the retention service's policy,
 * FamilyPlacement to the family service's PlacementView. The views below add
 * what a type's `id` is made of.
 */
import type { ShardStatus } from '../../services/health-service.js';
import type { ColumnDescription } from '../../schema/columns.js';
import type { IngestResult } from '../../services/ingest-service.js';
import type { PurgeResult } from '../../services/retention-service.js';
import type { QueryResult } from '../../services/query-service.js';

/** A shard's status plus the families placed on it. */
export interface ShardView extends ShardStatus {
  families: string[];
}

/** A family column with its family (its id is `<family>.<column>`). */
export interface ColumnView extends ColumnDescription {
  family: string;
}

/** An ingest answer with its id (resolvers/ids.ts ingestId). */
export interface IngestResultView extends IngestResult {
  id: string;
}

/** A purge answer with its id. */
export interface PurgeResultView extends PurgeResult {
  id: string;
}

/** A query answer with the SQL it answers, which names it (`id`: resolvers/ids.ts queryResultId, hashed once and only when selected). */
export interface QueryResultView extends QueryResult {
  sql: string;
  id?: string;
}
