/**
 * Query resolvers: thin, one service call each (the same services the REST
 * shims call), each first taking one statement of the operation's budget. Field resolvers of the returned objects live beside them.
 */
import type { QueryResolvers } from '../generated/resolvers-types.js';
import type { ShardView } from '../mappers.js';
import { queryResultId } from './ids.js';

/** Resolvers of `type Query`. */
export const queryResolvers: QueryResolvers = {
  rawQuery: async (_parent, args, { services, statements, signal }) => {
    statements.take('rawQuery');
    const result = await services.query.query(args.query, signal === undefined ? {} : { signal });
    return { ...result, id: queryResultId(args.query) };
  },
  describe: (_parent, _args, { services, statements }) => {
    statements.take('describe');
    return services.describe.describe();
  },
  families: (_parent, _args, { services, statements }) => {
    statements.take('families');
    return services.family.list();
  },
  family: (_parent, args, { services, statements }) => {
    statements.take('family');
    return services.family.get(args.name);
  },
  shards: async (_parent, _args, { services, statements }): Promise<ShardView[]> => {
    statements.take('shards');
    const [statuses, placements] = await Promise.all([services.health.shardStatuses(), services.health.placements()]);
    return statuses.map((status) => ({
      ...status,
      families: placements
        .filter((p) => p.shard === status.name)
        .map((p) => p.family)
        .sort(),
    }));
  },
};
