/**
 * Field resolvers of the answer types: `IngestResult`, `PurgeResult`,
 * `QueryResult`, `Describe` and `Shard`. A mutation's answer carries the
 * changed Family (`familyInfo`, read again after the change) so that caches
 * update it.
 */
import type {
  DescribeResolvers,
  IngestResultResolvers,
  PurgeResultResolvers,
  QueryResultResolvers,
  ShardResolvers,
} from '../generated/resolvers-types.js';
import type { QueryResultView } from '../mappers.js';
import { columnViews, queryResultId } from './ids.js';

/** Resolvers of `type IngestResult`. */
export const ingestResultResolvers: IngestResultResolvers = {
  columns: (parent) => columnViews(parent.family, parent.columns),
  familyInfo: (parent, _args, { services, statements }) => {
    statements.take('familyInfo');
    return services.family.get(parent.family);
  },
};

/** Resolvers of `type PurgeResult`. */
export const purgeResultResolvers: PurgeResultResolvers = {
  familyInfo: (parent, _args, { services, statements }) => {
    statements.take('familyInfo');
    return services.family.get(parent.family);
  },
};

/** A query answer's id, hashed from its SQL on first use and kept for its other fields. */
function resultId(parent: QueryResultView): string {
  return (parent.id ??= queryResultId(parent.sql));
}

/**
 * Resolvers of `type QueryResult`: its id names the SQL text (a sha-256
 * prefix, computed only when selected), each result column's id is the
 * result's id and its position.
 */
export const queryResultResolvers: QueryResultResolvers = {
  id: resultId,
  columns: (parent) => {
    const id = resultId(parent);
    return parent.columns.map((column, index) => ({ id: `${id}.${index}`, name: column.name, type: column.type }));
  },
};

/** Resolvers of `type Describe`. */
export const describeResolvers: DescribeResolvers = {
  id: () => 'describe',
};

/** Resolvers of `type Shard`. */
export const shardResolvers: ShardResolvers = {
  id: (parent) => parent.name,
};
