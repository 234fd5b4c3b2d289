/** REST shim for GET /api/describe (the seed's shapes): every family table with its columns. */
import type { FastifyInstance } from 'fastify';
import type { Services } from '../../services/services.js';

/** Registers GET /api/describe. */
export function registerDescribeRoutes(app: FastifyInstance, services: Services): void {
  app.get('/api/describe', async () => services.describe.describe());
}
