/**
 * GET /healthz: the process is up (no I/O). GET /readyz: the catalog and
 * every shard answer; 503 otherwise, so a load balancer can take the instance
 * out. It names shards and their reachability only (no server versions or
 * addresses), and with access control on only to a token with the metrics or
 * admin scope: without one it answers the status code and `{"ready": ...}`.
 */
import type { FastifyInstance } from 'fastify';
import type { Services } from '../services/services.js';

/** Registers /healthz and /readyz. */
export function registerHealth(app: FastifyInstance, services: Services): void {
  app.get('/healthz', async () => ({ status: 'ok', pid: process.pid }));
  app.get('/readyz', async (request, reply) => {
    const readiness = await services.health.readiness();
    reply.code(readiness.ready ? 200 : 503);
    const principal = request.principal;
    // Anonymous (access control off), or a token that may see the details.
    const detailed = principal !== null && (principal.anonymous || principal.has('metrics') || principal.has('admin'));
    if (!detailed) return { ready: readiness.ready };
    return {
      status: readiness.ready ? 'ready' : 'not ready',
      ready: readiness.ready,
      catalog: { reachable: readiness.catalog.reachable, error: readiness.catalog.error },
      shards: readiness.shards.map(({ name, reachable, error }) => ({ name, reachable, error })),
      // Shards the catalog places families on that this gateway lacks (their families answer 503).
      unconfiguredShards: readiness.unconfiguredShards,
    };
  });
}
