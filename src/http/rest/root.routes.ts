/**
 * GET /: what a person who opens the gateway's address in a browser (or
 * curls it) can use: the API's entry points and where the docs are.
 */
import type { FastifyInstance } from 'fastify';

/** The entry points GET / lists. */
const ENDPOINTS = {
  ingest: 'PUT /api/log',
  query: 'POST /api/query',
  describe: 'GET /api/describe',
  purge: 'DELETE /api/log/{family}?before=<time>',
  retention: 'GET|PUT|DELETE /api/families/{family}/retention',
  graphql: 'POST /graphql (explorer: GET /graphql in a browser)',
  health: 'GET /healthz',
  ready: 'GET /readyz',
  metrics: 'GET /metrics',
} as const;

/** Registers GET /. */
export function registerRootRoutes(app: FastifyInstance): void {
  app.get('/', async () => ({
    name: 'databalancer',
    description: 'Stateless gateway: log events in, typed and sharded MySQL tables, SQL/GraphQL/REST out',
    endpoints: ENDPOINTS,
    docs: 'README.md and docs/ in the repository',
  }));
}
