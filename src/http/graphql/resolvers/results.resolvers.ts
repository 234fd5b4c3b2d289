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

/**
 * Resolvers of `type QueryResult`: its id names the SQL text (a sha-256
 * prefix, computed only when selected), each result column's id is the
 * result's id and its position.
 */
export const queryResultResolvers: QueryResultResolvers = {
  id: (parent) => queryResultId(parent.sql),
  columns: (parent) => {
    const id = queryResultId(parent.sql);
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
