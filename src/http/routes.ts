/**
 * Every route of the gateway on one fastify server: the REST shims (one file
 * per resource under rest/), GraphQL, health and metrics. Each transport
 * only parses, calls one service and maps the result or error. Access
 * control (auth.ts) is registered first, so its hooks guard every route.
 */
import type { FastifyInstance } from 'fastify';
import type { Config } from '../config/config.js';
import type { Services } from '../services/services.js';
import { registerAccess } from './auth.js';
import { registerGraphql } from './graphql/apollo.js';
import { registerHealth } from './health.js';
import { registerMetrics, type Metrics } from './metrics.js';
import { registerDescribeRoutes } from './rest/describe.routes.js';
import { registerLogRoutes } from './rest/log.routes.js';
import { registerMoveRoutes } from './rest/move.routes.js';
import { registerOsqueryRoutes } from './rest/osquery.routes.js';
import { registerQueryRoutes } from './rest/query.routes.js';
import { registerRetentionRoutes } from './rest/retention.routes.js';
import { registerRootRoutes } from './rest/root.routes.js';

/** Registers every route on `server`. */
export async function registerRoutes(server: FastifyInstance, services: Services, metrics: Metrics, config: Config): Promise<void> {
  registerAccess(server, services.access, metrics);
  registerRootRoutes(server);
  registerMetrics(server, metrics);
  registerHealth(server, services);
  registerLogRoutes(server, services);
  registerOsqueryRoutes(server, services, config.limits.bodyMaxDepth);
  registerQueryRoutes(server, services);
  registerDescribeRoutes(server, services);
  registerRetentionRoutes(server, services);
  registerMoveRoutes(server, services);
  await registerGraphql(server, services, config);
}
