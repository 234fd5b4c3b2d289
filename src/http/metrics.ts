/**
 * Prometheus metrics at GET /metrics: one registry per app (nothing global),
 * default process metrics, HTTP request counts and latencies, ingest and
 * query counters, and requests per access token by the token's name (never
 * its secret; `anonymous` with access control off).
 */
import type { FastifyInstance } from 'fastify';
import { Counter, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { DecisionHook } from '../services/access-service.js';

/** The metrics of one gateway process. */
export interface Metrics {
  registry: Registry;
  httpRequests: Counter<'method' | 'route' | 'status'>;
  httpDuration: Histogram<'method' | 'route'>;
  ingestedEvents: Counter<'shard'>;
  purgedRows: Counter<'family'>;
  purgeDuration: Histogram<'family'>;
  /** Requests admitted, by token name (`anonymous` with access control off). */
  tokenRequests: Counter<'token'>;
  /** Requests refused, by token name (`none` when no token was recognised) and reason (unauthenticated, forbidden, no_rule). */
  tokenRefused: Counter<'token' | 'reason'>;
  /** Requests refused by a token's limits, by token name. */
  tokenRateLimited: Counter<'token'>;
}

/** Creates the registry and every metric. */
export function createMetrics(): Metrics {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'databalancer_' });
  return {
    registry,
    httpRequests: new Counter({
      name: 'databalancer_http_requests_total',
      help: 'HTTP requests by method, route and status',
      labelNames: ['method', 'route', 'status'],
      registers: [registry],
    }),
    httpDuration: new Histogram({
      name: 'databalancer_http_request_duration_seconds',
      help: 'HTTP request latency by method and route',
      labelNames: ['method', 'route'],
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers: [registry],
    }),
    ingestedEvents: new Counter({
      name: 'databalancer_ingested_events_total',
      help: 'Log events written, by shard',
      labelNames: ['shard'],
      registers: [registry],
    }),
    purgedRows: new Counter({
      name: 'databalancer_purged_rows_total',
      help: 'Rows deleted by retention and on-demand purges (family table plus raw_logs), by family',
      labelNames: ['family'],
      registers: [registry],
    }),
    purgeDuration: new Histogram({
      name: 'databalancer_purge_duration_seconds',
      help: 'Time one purge of one family took',
      labelNames: ['family'],
      buckets: [0.01, 0.05, 0.1, 0.5, 1, 5, 10, 30, 60, 300],
      registers: [registry],
    }),
    tokenRequests: new Counter({
      name: 'databalancer_token_requests_total',
      help: 'Requests authenticated, by access token name (anonymous with access control off)',
      labelNames: ['token'],
      registers: [registry],
    }),
    tokenRefused: new Counter({
      name: 'databalancer_token_refused_total',
      help: 'Requests refused by access control, by token name (none: no valid token) and reason (unauthenticated, forbidden, no_rule)',
      labelNames: ['token', 'reason'],
      registers: [registry],
    }),
    tokenRateLimited: new Counter({
      name: 'databalancer_token_rate_limited_total',
      help: "Requests refused by a token's requests_per_minute or events_per_minute, by token name",
      labelNames: ['token'],
      registers: [registry],
    }),
  };
}

/** The access service's decision hook, counting into `metrics` by token name. */
export function accessDecisionRecorder(metrics: Metrics): DecisionHook {
  return (name, outcome) => {
    const token = name ?? 'none';
    switch (outcome) {
      case 'authenticated':
        metrics.tokenRequests.inc({ token });
        break;
      case 'rate_limited':
        metrics.tokenRateLimited.inc({ token });
        break;
      default:
        metrics.tokenRefused.inc({ token, reason: outcome });
    }
  };
}

/** Records every request and serves GET /metrics. */
export function registerMetrics(app: FastifyInstance, metrics: Metrics): void {
  // prom-client hashes a label set on every call given one: each (method, route, status) binds its children once.
  // Bounded: the methods Node's parser takes, the routes registered (or `unmatched`), the status codes sent.
  const bound = new Map<string, { requests: Counter.Internal; duration: Histogram.Internal<'method' | 'route'> }>();
  app.addHook('onResponse', (request, reply, done) => {
    const route = request.routeOptions.url ?? 'unmatched';
    const key = `${request.method} ${reply.statusCode} ${route}`;
    let children = bound.get(key);
    if (children === undefined) {
      children = {
        requests: metrics.httpRequests.labels({ method: request.method, route, status: String(reply.statusCode) }),
        duration: metrics.httpDuration.labels({ method: request.method, route }),
      };
      bound.set(key, children);
    }
    children.requests.inc();
    children.duration.observe(reply.elapsedTime / 1000);
    done();
  });
  app.get('/metrics', async (_request, reply) => {
    reply.header('content-type', metrics.registry.contentType);
    return metrics.registry.metrics();
  });
}
