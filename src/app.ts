/**
 * createApp wires the layers for one gateway process: shard pools, catalog,
 * ring, shard manager, services, and the HTTP transports (REST shims,
 * GraphQL, health, metrics). It does not listen; main.ts does.
 */
import type { FastifyInstance } from 'fastify';
import type { Config } from './config/config.js';
import type { Logger } from './logging/logger.js';
import { createCatalogKnex, ShardPool } from './shards/shard-pool.js';
import { Catalog } from './shards/catalog.js';
import { HashRing } from './shards/ring.js';
import { ShardManager } from './shards/shard-manager.js';
import { resolveShardIds } from './shards/shard-identity.js';
import { IngestService } from './services/ingest-service.js';
import { QueryService } from './services/query-service.js';
import { DescribeService } from './services/describe-service.js';
import { HealthService } from './services/health-service.js';
import { RetentionService } from './services/retention-service.js';
import { FamilyService } from './services/family-service.js';
import { OsqueryService } from './services/osquery-service.js';
import { Purger } from './services/purger.js';
import type { Services } from './services/services.js';
import { systemClock, type Clock } from './services/clock.js';
import { createHttpServer } from './http/server.js';
import { registerRoutes } from './http/routes.js';
import { createMetrics, type Metrics } from './http/metrics.js';

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
  const poolOptions = { poolMax: config.poolMax, queryTimeoutMs: config.queryTimeoutMs, writeTimeoutMs: config.limits.writeTimeoutMs, logger };
  // Unnamed shards take the id their database recorded, so a respelled address keeps its families.
  const shardConfigs = await resolveShardIds(config.shards, logger);
  const pools = shardConfigs.map((shard) => new ShardPool(shard, poolOptions));
  const catalogIndex = config.shards.findIndex((shard) => shard.id === config.catalog.id);
  const catalogShard = catalogIndex >= 0 ? pools[catalogIndex] : undefined;
  const catalogPool = catalogShard ?? new ShardPool(config.catalog, { ...poolOptions, shardTables: false });
  // The catalog's own pool: never shared with users' queries, staging or DDL.
  const catalogKnex = createCatalogKnex(config.catalog, poolOptions);
  const catalog = new Catalog(catalogKnex, catalogPool.id, () => catalogPool.ready());
  const manager = new ShardManager({
    shards: pools,
    catalog,
    ring: new HashRing(pools.map((p) => p.id), config.ringVnodes),
    maxColumns: config.maxColumns,
    defaultRetentionSeconds: config.retention.defaultSeconds,
    logger,
  });
  const metrics = createMetrics();
  const describe = new DescribeService(manager, catalog);
  const ingest = new IngestService({
    manager,
    logger,
    clock,
    maxColumns: config.maxColumns,
    rawLogs: config.rawLogs,
    idempotencyTtlSeconds: config.idempotencyTtlSeconds,
    onIngested: (_family, shard, rows) => metrics.ingestedEvents.inc({ shard }, rows),
  });
  const osquery = new OsqueryService({
    manager,
    ingest,
    logger,
    clock,
    maxColumns: config.maxColumns,
    rawLogs: config.rawLogs,
    enrollSecret: config.osquery.enrollSecret,
    enrollSecretFile: config.osquery.enrollSecretFile,
    maxDepth: config.limits.bodyMaxDepth,
  });
  const services: Services = {
    osquery,
    ingest,
    query: new QueryService({
      manager,
      logger,
      maxRows: config.queryMaxRows,
      maxBytes: config.limits.queryMaxBytes,
      sqlLimits: { maxLength: config.limits.queryMaxLength, maxTokens: config.limits.queryMaxTokens },
      timeoutMs: config.queryTimeoutMs,
      federationMaxRows: config.federationMaxRows,
      federationMaxConcurrent: config.limits.federationMaxConcurrent,
    }),
    describe,
    family: new FamilyService({ manager, describe, maxBytes: config.limits.queryMaxBytes }),
    health: new HealthService(manager, catalog),
    retention: new RetentionService({
      manager,
      catalog,
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
    ? new Purger({ retention: services.retention, manager, catalog, logger, clock, intervalSeconds: config.retention.purgeIntervalSeconds })
    : undefined;

  const server = createHttpServer(config, logger);
  await registerRoutes(server, services, metrics, config);
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
      await catalogKnex.destroy();
      if (catalogShard === undefined) await catalogPool.close();
    },
  };
}
