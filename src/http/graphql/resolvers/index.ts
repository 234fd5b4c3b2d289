/**
 * Every resolver of schema.graphql, typed by the generated resolver types.
 */
import type { Resolvers } from '../generated/resolvers-types.js';
import { scalarResolvers } from '../scalars.js';
import { queryResolvers } from './query.resolvers.js';
import { mutationResolvers } from './mutation.resolvers.js';
import { familyResolvers } from './family.resolvers.js';

/** The resolver map handed to Apollo Server. */
export const resolvers: Resolvers = {
  ...scalarResolvers,
  Query: queryResolvers,
  Mutation: mutationResolvers,
  Family: familyResolvers,
};
