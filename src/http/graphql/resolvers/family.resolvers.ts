/**
 * Field resolvers of the family-shaped types: `Family` and `Table` (parent:
 * the describe service's TableDescription), their `Column`s and
 * `RetentionPolicy`. Ids are the family's name (and `<family>.<column>`);
 * a family's rows come through the structured filter of the family service.
 */
import type { ColumnResolvers, FamilyResolvers, RetentionPolicyResolvers, TableResolvers } from '../generated/resolvers-types.js';
import { columnId, columnViews, rowsResultId } from './ids.js';

/** Resolvers of `type Family`. */
export const familyResolvers: FamilyResolvers = {
  id: (parent) => parent.name,
  columns: (parent) => columnViews(parent.name, parent.columns),
  retention: (parent) => ({ family: parent.name, retentionSeconds: parent.retentionSeconds }),
  rows: async (parent, args, { services, statements }) => {
    statements.take('rows');
    const page = await services.family.rows({
      family: parent.name,
      where: args.where,
      orderBy: args.orderBy,
      limit: args.limit,
      offset: args.offset,
    });
    return { ...page, id: rowsResultId(parent.name, args) };
  },
};

/** Resolvers of `type Table` (describe's view of a family). */
export const tableResolvers: TableResolvers = {
  id: (parent) => parent.name,
  columns: (parent) => columnViews(parent.name, parent.columns),
};

/** Resolvers of `type Column`. */
export const columnResolvers: ColumnResolvers = {
  id: (parent) => columnId(parent.family, parent.name),
};

/** Resolvers of `type RetentionPolicy`: one per family, so its id is the family's name. */
export const retentionPolicyResolvers: RetentionPolicyResolvers = {
  id: (parent) => parent.family,
  familyInfo: (parent, _args, { services, statements }) => {
    statements.take('familyInfo');
    return services.family.get(parent.family);
  },
};
