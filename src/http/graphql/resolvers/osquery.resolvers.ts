/**
 * GraphQL counterparts of the schemaless routes (http/rest/osquery.routes.ts):
 * `ingestOsquery` (POST /api/osquery/results) and `ingestEvents`
 * (POST /api/log/{family}). Thin: one service call each, after taking one
 * statement of the operation's budget, with the access hook (every family
 * written against the token's patterns, then events_per_minute). osqueryd's TLS enroll/log API has no
 * GraphQL counterpart: osqueryd speaks only that REST shape.
 */
import type { MutationResolvers } from '../generated/resolvers-types.js';
import { ingestId, uniqueId } from './ids.js';
import { principalIn } from '../access-plugin.js';
import { accessGuard } from '../../../services/osquery-service.js';

/** The osquery and schemaless fields of `type Mutation`. */
export const osqueryMutationResolvers: Pick<MutationResolvers, 'ingestOsquery' | 'ingestEvents'> = {
  ingestOsquery: async (_parent, args, context) => {
    const { services, statements } = context;
    statements.take('ingestOsquery');
    // The families come from the records: checked against the token's patterns by the service's hook, before anything is written.
    const result = await services.osquery.ingestResults(args.lines, args.idempotencyKey ?? undefined, accessGuard(services.access, principalIn(context)));
    return { ...result, id: uniqueId(), families: result.families.map((f) => ({ ...f, id: `${f.family}/osquery` })) };
  },
  ingestEvents: async (_parent, args, context) => {
    const { services, statements } = context;
    statements.take('ingestEvents');
    const result = await services.osquery.ingestSchemaless(
      { family: args.family, events: args.events, schema: args.schema ?? undefined, idempotencyKey: args.idempotencyKey ?? undefined },
      accessGuard(services.access, principalIn(context)),
    );
    return { ...result, id: ingestId(result.family, args.idempotencyKey) };
  },
};
