/** REST shim for GET /api/describe (the seed's shapes): every family table with its columns, those the token may see. */
import type { FastifyInstance } from 'fastify';
import type { Services } from '../../services/services.js';
import { principalOf } from '../auth.js';

/** Registers GET /api/describe. */
export function registerDescribeRoutes(app: FastifyInstance, services: Services): void {
  app.get('/api/describe', async (request) => {
    const principal = principalOf(request);
    return services.describe.describe(principal.familyFilter().all ? undefined : (family) => principal.canSee(family));
  });
}
