/**
 * REST shims for retention: the per-family policy
 * (`GET|PUT|DELETE /api/families/:family/retention`) and on-demand purges
 * (`DELETE /api/log/:family?before=...`). They parse, call the retention
 * service, and return its result; errors go through the app's error handler.
 */
import type { FastifyInstance } from 'fastify';
import type { Services } from '../../services/services.js';
import { requireObject } from './log.routes.js';

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

  // Answers {"family", "deleted", "deletedRaw", "before"}.
  app.delete<{ Params: FamilyParams; Querystring: { before?: unknown } }>('/api/log/:family', async (request) =>
    services.retention.purge(request.params.family, request.query.before),
  );
}
