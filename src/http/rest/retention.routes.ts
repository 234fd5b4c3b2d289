/**
 * REST shims for a family's policies: its retention
 * (`GET|PUT|DELETE /api/families/:family/retention`; on-demand purges are
 * `DELETE /api/log/:family`, in log.routes.ts) and its placement over
 * shards (`GET|PUT /api/families/:family/placement`). They parse, call the
 * service, and return its result.
 */
import type { FastifyInstance } from 'fastify';
import type { Services } from '../../services/services.js';
import { requireObject } from './request-body.js';

interface FamilyParams {
  family: string;
}

/** Registers the retention routes. */
export function registerRetentionRoutes(app: FastifyInstance, services: Services): void {
  app.get<{ Params: FamilyParams }>('/api/families/:family/retention', async (request) =>
    services.retention.getRetention(request.params.family),
  );

  // Body {"retention": "7d"} or {"retention": 604800}.
  app.put<{ Params: FamilyParams; Body: unknown }>('/api/families/:family/retention', async (request) => {
    const body = requireObject(request.body);
    return services.retention.setRetention(request.params.family, body['retention']);
  });

  app.delete<{ Params: FamilyParams }>('/api/families/:family/retention', async (request) =>
    services.retention.clearRetention(request.params.family),
  );

  // Spread families (docs/big-families.md): body {"shards": ["s1", "s2", ...]}.
  app.get<{ Params: FamilyParams }>('/api/families/:family/placement', async (request) => services.family.placement(request.params.family));

  app.put<{ Params: FamilyParams; Body: unknown }>('/api/families/:family/placement', async (request) => {
    const body = requireObject(request.body);
    return services.family.setPlacement(request.params.family, body['shards']);
  });

}
