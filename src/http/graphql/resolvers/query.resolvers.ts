/**
 * Query resolvers: thin, one service call each (the same services the REST
 * shims call), each first taking one statement of the operation's budget. Field resolvers of the returned objects live beside them.
 */
import type { QueryResolvers } from '../generated/resolvers-types.js';
import type { ShardView } from '../mappers.js';
import { principalIn } from '../access-plugin.js';
import type { GraphqlContext } from '../context.js';

/** A filter of family names for the token (graphql/access-plugin.ts checked its scope), or undefined when it may see every family. */
function visibleTo(context: GraphqlContext): ((family: string) => boolean) | undefined {
  const principal = principalIn(context);
  return principal.familyFilter().all ? undefined : (family) => principal.canSee(family);
}

/** The access check of rawQuery's tables, for the query service (after validation, before anything runs). */
function authorizeTables(context: GraphqlContext): (tables: readonly string[]) => void {
  const principal = principalIn(context);
  return (tables) => context.services.access.require(principal, 'query', tables);
}

/** Resolvers of `type Query`. */
export const queryResolvers: QueryResolvers = {
  rawQuery: async (_parent, args, context) => {
    const { services, statements, signal } = context;
    statements.take('rawQuery');
    const authorize = authorizeTables(context);
    const result = await services.query.query(args.query, signal === undefined ? { authorize } : { signal, authorize });
    return { ...result, sql: args.query };
  },
  describe: (_parent, _args, context) => {
    context.statements.take('describe');
    return context.services.describe.describe(visibleTo(context));
  },
  families: (_parent, _args, context) => {
    context.statements.take('families');
    return context.services.family.list(visibleTo(context));
  },
  family: (_parent, args, { services, statements }) => {
    statements.take('family');
    return services.family.get(args.name);
  },
  shards: async (_parent, _args, context): Promise<ShardView[]> => {
    const { services, statements } = context;
    statements.take('shards');
    const visible = visibleTo(context) ?? (() => true);
    const [statuses, placements] = await Promise.all([services.health.shardStatuses(), services.health.placements()]);
    return statuses.map((status) => ({
      ...status,
      families: placements
        .filter((p) => p.shard === status.name && visible(p.family))
        .map((p) => p.family)
        .sort(),
    }));
  },
};
