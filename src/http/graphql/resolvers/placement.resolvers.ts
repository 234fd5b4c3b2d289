/**
 * GraphQL counterparts of the placement routes (`GET|PUT
 * /api/families/{family}/placement`, http/rest/retention.routes.ts;
 * docs/big-families.md): `setFamilyPlacement`, `Family.spread` and
 * `FamilyPlacement`. Thin: one call of the family service, after taking one
 * statement of the operation's budget. The mutation's admin scope (on its
 * family argument) is checked by graphql/access-plugin.ts before anything
 * runs. `Family.shards` needs no resolver: describe's TableDescription has it.
 */
import type { FamilyPlacementResolvers, FamilyResolvers, MutationResolvers } from '../generated/resolvers-types.js';

/** The placement fields of `type Mutation`. */
export const placementMutationResolvers: Pick<MutationResolvers, 'setFamilyPlacement'> = {
  setFamilyPlacement: (_parent, args, { services, statements }) => {
    statements.take('setFamilyPlacement');
    return services.family.setPlacement(args.family, args.shards);
  },
};

/** `Family.spread`: over several shards, from the shards describe lists (no SQL). */
export const familyPlacementResolvers: Pick<FamilyResolvers, 'spread'> = {
  spread: (parent) => parent.shards.length > 1,
};

/** Resolvers of `type FamilyPlacement` (parent: the family service's PlacementView). One per family, so its id is the family's name. */
export const familyPlacementTypeResolvers: FamilyPlacementResolvers = {
  id: (parent) => parent.family,
  familyInfo: (parent, _args, { services, statements }) => {
    statements.take('familyInfo');
    return services.family.get(parent.family);
  },
};
