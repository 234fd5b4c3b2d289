/** REST shim for POST /api/query (the seed's shapes): read-only SQL in, `{"results": [...]}` out. */
import type { FastifyInstance } from 'fastify';
import type { Services } from '../../services/services.js';
import { clientGone } from '../../services/query-service.js';
import { requireObject } from './request-body.js';
import { principalOf } from '../auth.js';

/** Registers POST /api/query. */
export function registerQueryRoutes(app: FastifyInstance, services: Services): void {
  app.post<{ Body: { query?: unknown } | undefined }>('/api/query', async (request, reply) => {
    const body = requireObject(request.body);
    // A client that goes away before its answer cancels the query (its statements are killed).
    const gone = new AbortController();
    reply.raw.once('close', () => reply.raw.writableEnded || gone.abort(clientGone()));
    const principal = principalOf(request);
    // Every table the SQL reads against the token's families, before anything runs (403).
    const authorize = (tables: readonly string[]): void => services.access.require(principal, 'query', tables);
    const result = await services.query.query(body.query, { controller: gone, authorize });
    // Seed shape when whole; a cut result also says which limit cut it ("rows" or "bytes").
    return result.truncated ? { results: result.results, truncated: true, truncatedReason: result.truncatedReason } : { results: result.results };
  });
}
