/**
 * createApp wires the layers for one gateway process: shard pools, catalog,
 * ring, shard manager, services, and the HTTP transports (REST shims,
 * GraphQL, health, metrics). It does not listen; main.ts does.
 */
import Fastify, { LogController, type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import { randomUUID } from 'node:crypto';
import type { Config } from './config/config.js';
import type { Logger } from './logging/logger.js';
import { ShardPool } from './shards/shard-pool.js';
import { Catalog } from './shards/catalog.js';
import { HashRing } from './shards/ring.js';
import { ShardManager } from './shards/shard-manager.js';
import { IngestService } from './services/ingest-service.js';
import { QueryService } from './services/query-service.js';
import { DescribeService } from './services/describe-service.js';
import { HealthService } from './services/health-service.js';
import { RetentionService } from './services/retention-service.js';
import { FamilyService } from './services/family-service.js';
import { Purger } from './services/purger.js';
import type { Services } from './services/services.js';
import { systemClock, type Clock } from './services/clock.js';
import { AppError } from './errors/app-error.js';
import { errorResponse, toAppError } from './http/rest/error-response.js';
import { registerLogRoutes } from './http/rest/log.routes.js';
import { registerRetentionRoutes } from './http/rest/retention.routes.js';
import { registerHealth } from './http/health.js';
import { registerGraphql } from './http/graphql/apollo.js';
import { createMetrics, registerMetrics, type Metrics } from './http/metrics.js';

declare module 'fastify' {
  interface FastifyRequest {
    /** The request body as text, on routes whose config asks for it (see the content-type parser in createApp). */
    bodyText: string | undefined;
  }
  interface FastifyContextConfig {
    /** Keep the body's text on `request.bodyText` after parsing it (ingest takes each event's raw copy from it). */
    keepBodyText?: boolean;
  }
}

const HTTP_METHODS = ['GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'PATCH', 'OPTIONS'] as const;

/** Things tests and tools may inject instead of the real ones. */
export interface AppOptions {
  clock?: Clock;
}

/** A wired gateway: the Fastify server (not listening) and how to shut it all down. */
export interface App {
  server: FastifyInstance;
  services: Services;
  manager: ShardManager;
  metrics: Metrics;
  /** The background retention purger; undefined when --purge_interval_seconds=0. */
  purger: Purger | undefined;
  /** Closes the HTTP server, background jobs and every pool. */
  close(): Promise<void>;
}

/** Builds the gateway for `config`. Connects lazily: a shard that is down does not stop it. */
export async function createApp(config: Config, logger: Logger, options: AppOptions = {}): Promise<App> {
  const clock = options.clock ?? systemClock;
  const poolOptions = { poolMax: config.poolMax, queryTimeoutMs: config.queryTimeoutMs, logger };
  const pools = config.shards.map((shard) => new ShardPool(shard, poolOptions));
  const catalogShard = pools.find((pool) => pool.id === config.catalog.id);
  const catalogPool = catalogShard ?? new ShardPool(config.catalog, { ...poolOptions, shardTables: false });
  const catalog = new Catalog(catalogPool.writer, catalogPool.id, () => catalogPool.ready());
  const manager = new ShardManager({
    shards: pools,
    catalog,
    ring: new HashRing(pools.map((p) => p.id), config.ringVnodes),
    maxColumns: config.maxColumns,
    defaultRetentionSeconds: config.retention.defaultSeconds,
    logger,
  });
  const metrics = createMetrics();
  const services: Services = {
    ingest: new IngestService({
      manager,
      logger,
      clock,
      maxColumns: config.maxColumns,
      rawLogs: config.rawLogs,
      idempotencyTtlSeconds: config.idempotencyTtlSeconds,
      onIngested: (_family, shard, rows) => metrics.ingestedEvents.inc({ shard }, rows),
    }),
    query: new QueryService({
      manager,
      logger,
      maxRows: config.queryMaxRows,
      timeoutMs: config.queryTimeoutMs,
      federationMaxRows: config.federationMaxRows,
    }),
    describe: new DescribeService(manager),
    family: new FamilyService({ manager, describe: new DescribeService(manager) }),
    health: new HealthService(manager),
    retention: new RetentionService({
      manager,
      logger,
      clock,
      batchSize: config.retention.purgeBatchSize,
      idempotencyTtlSeconds: config.idempotencyTtlSeconds,
      onPurged: (outcome) => {
        metrics.purgedRows.inc({ family: outcome.family }, outcome.deleted + outcome.deletedRaw);
        metrics.purgeDuration.observe({ family: outcome.family }, outcome.durationMs / 1000);
      },
    }),
  };
  const purger = config.retention.purgerEnabled
    ? new Purger({ retention: services.retention, manager, logger, clock, intervalSeconds: config.retention.purgeIntervalSeconds })
    : undefined;

  const server = Fastify({
    loggerInstance: logger as FastifyBaseLogger,
    logController: new LogController({ disableRequestLogging: true }),
    bodyLimit: config.bodyLimitBytes,
    genReqId: (request) => {
      const given = request.headers['x-request-id'];
      return typeof given === 'string' && given.length > 0 && given.length <= 128 ? given : randomUUID();
    },
  });
  // The seed's Go service decoded every body as JSON whatever its
  // Content-Type; keep that, so `curl -d` without -H works.
  server.removeAllContentTypeParsers();
  // On routes that ask for it, the body's text stays on the request next to
  // the parsed body: ingest takes each event's raw_logs copy from it
  // (ingest/event-spans.ts).
  server.decorateRequest('bodyText', undefined);
  server.addContentTypeParser('*', { parseAs: 'string' }, (request, body, done) => {
    const text = typeof body === 'string' ? body : body.toString('utf8');
    if (text.trim() === '') {
      done(null, undefined);
      return;
    }
    try {
      const parsed = JSON.parse(text) as unknown;
      if (request.routeOptions.config.keepBodyText === true) request.bodyText = text;
      done(null, parsed);
    } catch (error) {
      done(new AppError('INVALID_JSON', `the request body is not valid JSON (${(error as Error).message}); send a JSON object`), undefined);
    }
  });
  server.setErrorHandler((error, request, reply) => {
    const appError = toAppError(error, config.bodyLimitBytes);
    if (appError.code === 'INTERNAL_SERVER_ERROR') request.log.error({ err: error }, 'unexpected error');
    else if (appError.status >= 500) request.log.warn({ code: appError.code, details: appError.details }, appError.message);
    const { status, body } = errorResponse(appError);
    void reply.code(status).send(body);
  });
  server.setNotFoundHandler((request, reply) => {
    const path = request.url.split('?')[0] ?? request.url;
    const allowed = HTTP_METHODS.filter((method) => server.hasRoute({ method, url: path }));
    const error =
      allowed.length > 0
        ? new AppError('METHOD_NOT_ALLOWED', `${request.method} is not allowed on ${path}; use ${allowed.join(' or ')}`, {
            method: request.method,
            path,
            allowed,
          })
        : new AppError('ROUTE_NOT_FOUND', `no route ${request.method} ${path}; see the README for the API`, {
            method: request.method,
            path,
          });
    if (allowed.length > 0) void reply.header('allow', allowed.join(', '));
    const { status, body } = errorResponse(error);
    void reply.code(status).send(body);
  });
  server.addHook('onRequest', async (request, reply) => {
    void reply.header('x-request-id', request.id);
  });

  registerMetrics(server, metrics);
  registerHealth(server, services);
  registerLogRoutes(server, services);
  registerRetentionRoutes(server, services);
  await registerGraphql(server, services, config);
  purger?.start();

  let closed = false;
  return {
    server,
    services,
    manager,
    metrics,
    purger,
    async close() {
      if (closed) return;
      closed = true;
      // Lets a running purge finish its batch before the pools go away.
      await purger?.stop();
      await server.close();
      await manager.close();
      if (catalogShard === undefined) await catalogPool.close();
    },
  };
}
