/**
 * Mutation resolvers: thin, one service call each (the same services the
 * REST shims call).
 */
import type { MutationResolvers } from '../generated/resolvers-types.js';

/** Resolvers of `type Mutation`. */
export const mutationResolvers: MutationResolvers = {
  ingestLogs: (_parent, args, { services }) =>
    services.ingest.ingest({
      family: args.family,
      schema: args.schema,
      logs: args.logs,
      idempotencyKey: args.idempotencyKey ?? undefined,
    }),
  setRetention: (_parent, args, { services }) => services.retention.setRetention(args.family, args.retention),
  clearRetention: (_parent, args, { services }) => services.retention.clearRetention(args.family),
  purgeLogs: (_parent, args, { services }) => services.retention.purge(args.family, args.before),
};
