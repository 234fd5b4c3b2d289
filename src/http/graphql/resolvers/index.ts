/**
 * Every resolver of schema.graphql, typed by the generated resolver types.
 */
import type { Resolvers } from '../generated/resolvers-types.js';
import { scalarResolvers } from '../scalars.js';
import { queryResolvers } from './query.resolvers.js';
import { mutationResolvers } from './mutation.resolvers.js';
import { osqueryMutationResolvers } from './osquery.resolvers.js';
import { familyMoveResolvers, moveMutationResolvers, moveQueryResolvers } from './move.resolvers.js';
import { familyPlacementResolvers, familyPlacementTypeResolvers, placementMutationResolvers } from './placement.resolvers.js';
import { columnResolvers, familyResolvers, retentionPolicyResolvers, tableResolvers } from './family.resolvers.js';
import { describeResolvers, ingestResultResolvers, purgeResultResolvers, queryResultResolvers, shardResolvers } from './results.resolvers.js';

/** The resolver map handed to Apollo Server. */
export const resolvers: Resolvers = {
  ...scalarResolvers,
  Query: { ...queryResolvers, ...moveQueryResolvers },
  Mutation: { ...mutationResolvers, ...osqueryMutationResolvers, ...moveMutationResolvers, ...placementMutationResolvers },
  Family: { ...familyResolvers, ...familyMoveResolvers, ...familyPlacementResolvers },
  FamilyPlacement: familyPlacementTypeResolvers,
  Table: tableResolvers,
  Column: columnResolvers,
  RetentionPolicy: retentionPolicyResolvers,
  IngestResult: ingestResultResolvers,
  PurgeResult: purgeResultResolvers,
  QueryResult: queryResultResolvers,
  Describe: describeResolvers,
  Shard: shardResolvers,
};
