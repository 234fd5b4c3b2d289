/**
 * Query resolvers: thin, one service call each (the same services the REST
 * shims call). Field resolvers of the returned objects live beside them.
 */
import type { QueryResolvers } from '../generated/resolvers-types.js';
import type { ShardView } from '../mappers.js';

/** Resolvers of `type Query`. */
export const queryResolvers: QueryResolvers = {
  rawQuery: (_parent, args, { services }) => services.query.query(args.query),
  describe: (_parent, _args, { services }) => services.describe.describe(),
  families: (_parent, _args, { services }) => services.family.list(),
  family: (_parent, args, { services }) => services.family.get(args.name),
  shards: async (_parent, _args, { services }): Promise<ShardView[]> => {
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
