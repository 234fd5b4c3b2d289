/**
 * REST shims for the seed's endpoints: PUT /api/log, POST /api/query,
 * GET /api/describe. They parse, call one service, and return its result in
 * the seed's shapes.
 */
import type { FastifyInstance } from 'fastify';
import { badInput } from '../../errors/app-error.js';
import type { Services } from '../../services/services.js';

interface IngestBody {
  family?: unknown;
  schema?: unknown;
  logs?: unknown;
}

/** Registers the seed-compatible routes. */
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
    return services.ingest.write(prepared);
  });

  app.post<{ Body: { query?: unknown } | undefined }>('/api/query', async (request) => {
    const body = requireObject(request.body);
    const result = await services.query.query(body.query);
    return result.truncated ? { results: result.results, truncated: true } : { results: result.results };
  });

  app.get('/api/describe', async () => services.describe.describe());
}

/** The body must be a JSON object; anything else is BAD_USER_INPUT. */
export function requireObject(body: unknown): Record<string, unknown> {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    throw badInput('the request body must be a JSON object', {});
  }
  return body as Record<string, unknown>;
}
