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
import { MoveService } from './services/move-service.js';
import type { Services } from './services/services.js';
import { openAccessControl, type AccessControl } from './services/access-service.js';
import { systemClock, type Clock } from './services/clock.js';
import { createHttpServer } from './http/server.js';
import { registerRoutes } from './http/routes.js';
import { accessDecisionRecorder, createMetrics, type Metrics } from './http/metrics.js';

/** Things tests and tools may inject instead of the real ones. */
export interface AppOptions {
  clock?: Clock;
  /** Access control's rate-limit windows (clock, default `clock`; length) and tokens-file polling (0: not watched). */
  access?: { clock?: Clock; windowMs?: number; watchIntervalMs?: number };
}

/** A wired gateway: the Fastify server (not listening) and how to shut it all down. */
export interface App {
  server: FastifyInstance;
  services: Services;
  manager: ShardManager;
  metrics: Metrics;
  /** Access control (tokens, limits); main.ts reloads `access.store` on SIGHUP. */
  access: AccessControl;
  /** The background retention purger; undefined when --purge_interval_seconds=0. */
  purger: Purger | undefined;
  /** Closes the HTTP server, background jobs and every pool. */
  close(): Promise<void>;
}

/** Builds the gateway for `config`. Connects lazily: a shard that is down does not stop it. */
export async function createApp(config: Config, logger: Logger, options: AppOptions = {}): Promise<App> {
  const clock = options.clock ?? systemClock;
  const metrics = createMetrics();
  // Reads the tokens file (CONFIG_INVALID when broken) before any pool exists.
  const access = openAccessControl(config.access, logger, {
    onDecision: accessDecisionRecorder(metrics),
    clock: options.access?.clock ?? clock,
    ...(options.access?.windowMs === undefined ? {} : { windowMs: options.access.windowMs }),
    ...(options.access?.watchIntervalMs === undefined ? {} : { watchIntervalMs: options.access.watchIntervalMs }),
  });
  const poolOptions = { poolMax: config.poolMax, queryTimeoutMs: config.queryTimeoutMs, writeTimeoutMs: config.limits.writeTimeoutMs, reader: config.reader, logger };
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
    access: access.access,
    moves: new MoveService({
      manager,
      catalog,
      logger,
      batchRows: config.moves.batchRows,
      rowsPerSecond: config.moves.rowsPerSecond,
      sourceGraceSeconds: config.moves.sourceGraceSeconds,
      leaseTtlMs: config.moves.leaseSeconds * 1000,
      writeTimeoutMs: config.limits.writeTimeoutMs,
    }),
  };
  const purger = config.retention.purgerEnabled
    ? new Purger({ retention: services.retention, manager, catalog, logger, clock, intervalSeconds: config.retention.purgeIntervalSeconds })
    : undefined;

  const server = createHttpServer(config, logger);
  await registerRoutes(server, services, metrics, config);
  purger?.start();
  services.moves.startBackground();

  let closed = false;
  return {
    server,
    services,
    manager,
    metrics,
    access,
    purger,
    async close() {
      if (closed) return;
      closed = true;
      // Lets a running purge finish its batch before the pools go away.
      await purger?.stop();
      await services.moves.stop();
      await server.close();
      await manager.close();
      await catalogKnex.destroy();
      if (catalogShard === undefined) await catalogPool.close();
      await access.close();
    },
  };
}
