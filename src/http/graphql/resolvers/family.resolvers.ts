/**
 * Field resolvers of `type Family` (parent: the describe service's
 * TableDescription): its retention policy and its rows through the
 * structured filter of the family service.
 */
import type { FamilyResolvers } from '../generated/resolvers-types.js';

/** Resolvers of `type Family`. */
export const familyResolvers: FamilyResolvers = {
  retention: (parent) => ({ family: parent.name, retentionSeconds: parent.retentionSeconds }),
  rows: (parent, args, { services, statements }) => {
    statements.take('rows');
    return services.family.rows({
      family: parent.name,
      where: args.where,
      orderBy: args.orderBy,
      limit: args.limit,
      offset: args.offset,
    });
  },
};
