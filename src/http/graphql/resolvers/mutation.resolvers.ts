/**
 * Mutation resolvers: thin, one service call each (the same services the
 * REST shims call), each first taking one statement of the operation's budget.
 * Scopes and families were checked for the whole operation before any field
 * ran (graphql/access-plugin.ts).
 */
import type { MutationResolvers } from '../generated/resolvers-types.js';
import { ingestId, uniqueId } from './ids.js';
import { principalIn } from '../access-plugin.js';
import { Kind, type FieldNode } from '../graphql-js.js';

/** The name of the variable the field's `logs` argument is, or undefined when it is written in the document. */
function logsVariable(field: FieldNode | undefined): string | undefined {
  const value = field?.arguments?.find((argument) => argument.name.value === 'logs')?.value;
  return value?.kind === Kind.VARIABLE ? value.name.value : undefined;
}

/** Resolvers of `type Mutation`. */
export const mutationResolvers: MutationResolvers = {
  ingestLogs: async (_parent, args, context, info) => {
    const { services, statements } = context;
    statements.take('ingestLogs');
    // `logs` sent as a variable: each event's raw copy is its own text in the body, as over REST (else it is serialised again).
    const variable = logsVariable(info?.fieldNodes[0]);
    const prepared = services.ingest.prepare({
      family: args.family,
      schema: args.schema,
      logs: args.logs,
      idempotencyKey: args.idempotencyKey ?? undefined,
      ...(variable === undefined || context.bodyText === undefined ? {} : { sourceText: context.bodyText, sourcePath: ['variables', variable] }),
    });
    // Validated, not yet written: the whole batch fits the token's events_per_minute, or nothing is written.
    await services.access.chargeEvents(principalIn(context), prepared.count);
    const result = await services.ingest.write(prepared);
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
