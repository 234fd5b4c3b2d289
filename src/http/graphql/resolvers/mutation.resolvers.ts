/**
 * Mutation resolvers: thin, one service call each (the same services the
 * REST shims call), each first taking one statement of the operation's budget.
 */
import type { MutationResolvers } from '../generated/resolvers-types.js';
import { ingestId, uniqueId } from './ids.js';

/** Resolvers of `type Mutation`. */
export const mutationResolvers: MutationResolvers = {
  ingestLogs: async (_parent, args, { services, statements }) => {
    statements.take('ingestLogs');
    const result = await services.ingest.ingest({
      family: args.family,
      schema: args.schema,
      logs: args.logs,
      idempotencyKey: args.idempotencyKey ?? undefined,
    });
    return { ...result, id: ingestId(result.family, args.idempotencyKey) };
  },
  setRetention: (_parent, args, { services, statements }) => {
    statements.take('setRetention');
    return services.retention.setRetention(args.family, args.retention);
  },
  clearRetention: (_parent, args, { services, statements }) => {
    statements.take('clearRetention');
    return services.retention.clearRetention(args.family);
  },
  purgeLogs: async (_parent, args, { services, statements }) => {
    statements.take('purgeLogs');
    return { ...(await services.retention.purge(args.family, args.before)), id: uniqueId() };
  },
};
