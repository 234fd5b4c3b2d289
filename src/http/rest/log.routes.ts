/**
 * REST shims for a family's events: PUT /api/log (the seed's ingest, exact
 * shapes) and DELETE /api/log/{family}?before= (purge). They parse, call one
 * service, and return its result.
 */
import type { FastifyInstance } from 'fastify';
import type { Services } from '../../services/services.js';
import { requireObject } from './request-body.js';
import { principalOf } from '../auth.js';

interface IngestBody {
  family?: unknown;
  schema?: unknown;
  logs?: unknown;
}

/** Registers PUT /api/log and DELETE /api/log/{family}. */
export function registerLogRoutes(app: FastifyInstance, services: Services): void {
  app.put<{ Body: IngestBody | undefined }>('/api/log', { config: { keepBodyText: true } }, async (request) => {
    const body = requireObject(request.body);
    const header = request.headers['idempotency-key'];
    const prepared = services.ingest.prepare({
      family: body.family,
      schema: body.schema,
      logs: body.logs,
      idempotencyKey: Array.isArray(header) ? header[0] : header,
      sourceText: request.bodyText,
    });
    // The events are SQL text now: let the parsed body go before waiting on
    // the database, so garbage collections during the write do not copy it.
    request.body = undefined;
    request.bodyText = undefined;
    // Validated, not yet written: the whole batch fits the token's events_per_minute, or nothing is written (429).
    await services.access.chargeEvents(principalOf(request), prepared.count);
    return services.ingest.write(prepared);
  });

  // Answers {"family", "deleted", "deletedRaw", "before"}.
  app.delete<{ Params: { family: string }; Querystring: { before?: unknown } }>('/api/log/:family', async (request) =>
    services.retention.purge(request.params.family, request.query.before),
  );
}
