/**
 * GraphQL counterparts of the move routes (http/rest/move.routes.ts; docs/moving.md):
 * `moveFamily`, `cancelFamilyMove`, `Family.move`, `rebalance` and
 * `runRebalance`. Thin: one call of the move service each, after taking one
 * statement of the operation's budget. The root fields' admin scope is
 * checked by graphql/access-plugin.ts before anything runs; `Family.move`
 * sits below `family`/`families` (query scope), so it checks admin itself.
 */
import type { FamilyMove, FamilyResolvers, MutationResolvers, QueryResolvers, RebalancePlan } from '../generated/resolvers-types.js';
import type { MoveView } from '../../../services/move-service.js';
import type { RebalancePlan as RebalancePlanModel } from '../../../services/rebalance-plan.js';
import { principalIn } from '../access-plugin.js';
import { familyMoveId, rebalanceMoveId, shardRowsId, uniqueId } from './ids.js';

/** A move as GraphQL answers it: the REST shape plus its id. */
function familyMoveOf(move: MoveView): FamilyMove {
  return { ...move, id: familyMoveId(move.moveId) };
}

/** The service's plan (rows keyed by shard) as lists ordered by shard name. */
function rebalancePlanOf(plan: RebalancePlanModel): RebalancePlan {
  const rows = (side: 'before' | 'after') =>
    Object.entries(plan[side])
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
      .map(([shard, count]) => ({ id: shardRowsId(side, shard), shard, rows: count }));
  return { id: 'rebalance', before: rows('before'), after: rows('after'), moves: plan.moves.map((m) => ({ ...m, id: rebalanceMoveId(m.family) })) };
}

/** The move fields of `type Mutation`. */
export const moveMutationResolvers: Pick<MutationResolvers, 'moveFamily' | 'cancelFamilyMove' | 'runRebalance'> = {
  moveFamily: async (_parent, args, { services, statements }) => {
    statements.take('moveFamily');
    return familyMoveOf(await services.moves.start(args.family, args.to, args.from ?? undefined));
  },
  cancelFamilyMove: async (_parent, args, { services, statements }) => {
    statements.take('cancelFamilyMove');
    return familyMoveOf(await services.moves.cancel(args.family));
  },
  runRebalance: async (_parent, _args, { services, statements }) => {
    statements.take('runRebalance');
    const { queued, ...plan } = await services.moves.runRebalance();
    return { id: uniqueId(), plan: rebalancePlanOf(plan), queued: queued.map(familyMoveOf) };
  },
};

/** The move fields of `type Query`. */
export const moveQueryResolvers: Pick<QueryResolvers, 'rebalance'> = {
  rebalance: async (_parent, _args, { services, statements }) => {
    statements.take('rebalance');
    return rebalancePlanOf(await services.moves.proposeRebalance());
  },
};

/** `Family.move`: the family's latest move, null when it never moved. */
export const familyMoveResolvers: Pick<FamilyResolvers, 'move'> = {
  move: async (parent, _args, context) => {
    const { services, statements } = context;
    // As GET /api/families/{family}/move: admin on this family (the plugin checked only `family`'s query scope).
    if (services.access?.enabled === true) services.access.require(principalIn(context), 'admin', [parent.name]);
    statements.take('move');
    const move = await services.moves.latest(parent.name);
    return move === null ? null : familyMoveOf(move);
  },
};
