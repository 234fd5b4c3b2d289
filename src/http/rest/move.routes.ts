/**
 * REST routes of family moves (docs/moving.md):
 * `POST|GET|DELETE /api/families/:family/move` and `GET|POST /api/rebalance`.
 * They parse, call the move service, and return its result.
 */
import type { FastifyInstance } from 'fastify';
import type { Services } from '../../services/services.js';
import { requireObject } from './request-body.js';

interface FamilyParams {
  family: string;
}

/** Registers the move and rebalance routes. */
export function registerMoveRoutes(app: FastifyInstance, services: Services): void {
  // Body {"to": "<shard>"} ({"from", "to"} for a part of a spread family); 202: the copy runs in the background.
  app.post<{ Params: FamilyParams; Body: unknown }>('/api/families/:family/move', async (request, reply) => {
    const body = requireObject(request.body);
    const move = await services.moves.start(request.params.family, body['to'], body['from']);
    return reply.code(202).send(move);
  });

  app.get<{ Params: FamilyParams }>('/api/families/:family/move', async (request) => services.moves.status(request.params.family));

  app.delete<{ Params: FamilyParams }>('/api/families/:family/move', async (request) => services.moves.cancel(request.params.family));

  app.get('/api/rebalance', async () => services.moves.proposeRebalance());

  app.post('/api/rebalance', async (_request, reply) => reply.code(202).send(await services.moves.runRebalance()));
}
