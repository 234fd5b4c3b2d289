/**
 * Entry point: loadConfig -> createApp -> listen (or, with --workers, a
 * supervisor of worker processes); signal handling (SIGINT/SIGTERM stop,
 * SIGHUP re-reads the tokens file). An invalid configuration, tokens file or
 * TLS file exits 2 with one line. The only place that
 * reads process.argv/env and calls process.exit.
 */
import cluster from 'node:cluster';
import v8 from 'node:v8';
import { loadConfig, helpText, HelpRequested, type Config } from './config/config.js';
import type { Logger } from './logging/logger.js';
import { createLogger } from './logging/logger.js';
import { createApp } from './app.js';
import { isAppError } from './errors/app-error.js';
import { RedisRateLimiter } from './services/rate-limiter.js';

/** Exits 2 with one line when `error` is CONFIG_INVALID (flags, the tokens file, the TLS files); otherwise returns. */
function exitOnInvalidConfig(error: unknown): void {
  if (isAppError(error) && error.code === 'CONFIG_INVALID') {
    const problems = error.details['problems'];
    const line = Array.isArray(problems) ? problems.join('; ') : error.message.replace(/\s*\n\s*/g, ' ');
    process.stderr.write(`databalancer: invalid configuration: ${line} (run with --help for every flag)\n`);
    process.exit(2);
  }
}

function readConfig(): Config {
  try {
    return loadConfig(process.argv.slice(2), process.env);
  } catch (error) {
    if (error instanceof HelpRequested) {
      process.stdout.write(`${helpText()}\n`);
      process.exit(0);
    }
    exitOnInvalidConfig(error);
    throw error;
  }
}

/** True when `host` binds loopback only (127.0.0.0/8, ::1, localhost). */
function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '::1' || /^127\.\d+\.\d+\.\d+$/.test(host);
}

/**
 * Log fields naming the socket address the HTTP server binds: `:8080` binds
 * 0.0.0.0:8080, i.e. every IPv4 interface, not only loopback.
 */
function bindFields(config: Config): { bind: string; interfaces?: 'all' } {
  const { host, port } = config.server;
  const bind = host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
  return host === '0.0.0.0' || host === '::' ? { bind, interfaces: 'all' } : { bind };
}

/**
 * With --workers=N > 1 this process only supervises: it forks N workers that
 * share the listen port (node:cluster hands out connections), restarts a
 * worker that dies, and passes SIGINT/SIGTERM on. Workers are ordinary
 * stateless gateways, exactly like separate processes behind a load balancer.
 */
function supervise(config: Config, logger: Logger): void {
  let stopping = false;
  const fork = (): void => {
    cluster.fork();
  };
  cluster.on('exit', (worker, code, signal) => {
    if (stopping) {
      if (Object.keys(cluster.workers ?? {}).length === 0) process.exit(0);
      return;
    }
    logger.warn({ pid: worker.process.pid, code, signal }, 'gateway worker exited; starting another');
    setTimeout(fork, 1000).unref();
  });
  const stop = (signal: NodeJS.Signals): void => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, 'shutting down workers');
    for (const worker of Object.values(cluster.workers ?? {})) worker?.process.kill('SIGTERM');
    setTimeout(() => process.exit(1), 20_000).unref();
  };
  process.on('SIGINT', () => stop('SIGINT'));
  process.on('SIGTERM', () => stop('SIGTERM'));
  // Each worker re-reads its tokens file.
  process.on('SIGHUP', () => {
    for (const worker of Object.values(cluster.workers ?? {})) worker?.process.kill('SIGHUP');
  });
  logger.info({ workers: config.workers, ...bindFields(config) }, `Starting ${config.workers} gateway workers on ${config.server.address}`);
  for (let i = 0; i < config.workers; i++) fork();
}

async function main(): Promise<void> {
  const config = readConfig();
  const logger = createLogger(config.logLevel);
  // V8 otherwise lets the heap grow to up to four times what the last full
  // collection kept: a busy gateway's request garbage (parsed bodies, INSERT
  // text) then peaks at hundreds of MB. V8 reads the factor at every full
  // collection, so setting it now takes effect (docs/performance.md).
  if (config.heapGrowingPercent > 0) v8.setFlagsFromString(`--heap-growing-percent=${config.heapGrowingPercent}`);
  // Once, by the supervisor or the single process.
  if (cluster.isPrimary && config.access.tokensFile === null && !isLoopback(config.server.host)) {
    logger.warn(
      bindFields(config),
      `access control is off (no --tokens_file) and the gateway listens on ${config.server.address}, beyond loopback: anyone who can reach it may ingest, query and purge; give --tokens_file (docs/security.md) or listen on 127.0.0.1`,
    );
  }
  if (config.workers > 1 && cluster.isPrimary) {
    supervise(config, logger);
    return;
  }
  let app: Awaited<ReturnType<typeof createApp>>;
  try {
    app = await createApp(config, logger);
  } catch (error) {
    exitOnInvalidConfig(error);
    throw error;
  }

  // Connect to every shard now, for the seed's start-up lines and an early
  // warning; a shard that is down joins when it comes back.
  await Promise.all(
    app.manager.shards.map(async (pool) => {
      try {
        await pool.ready();
      } catch (error) {
        logger.warn({ shard: pool.id, err: isAppError(error) ? error.message : error }, `could not connect to MySQL at ${pool.address}; will retry on demand`);
      }
    }),
  );
  await app.manager.catalog.ready().catch((error: unknown) => {
    logger.warn({ err: isAppError(error) ? error.message : error }, 'catalog unreachable; will retry on demand');
  });
  // Shared limits from the first request on (until it answers, each process counts alone).
  const limiter = app.access.limiter;
  if (limiter instanceof RedisRateLimiter && !(await limiter.ready())) {
    logger.warn('rate-limit Redis does not answer yet; per-token limits hold per process until it does');
  }

  let stopping = false;
  const stop = (signal: string): void => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, 'shutting down');
    const force = setTimeout(() => process.exit(1), 15_000);
    force.unref();
    app.close().then(
      () => process.exit(0),
      (error: unknown) => {
        logger.error({ err: error }, 'error during shutdown');
        process.exit(1);
      },
    );
  };
  process.on('SIGINT', () => stop('SIGINT'));
  process.on('SIGTERM', () => stop('SIGTERM'));
  // Re-read the tokens file (a broken one keeps the tokens in force and logs why); the file is also watched.
  process.on('SIGHUP', () => {
    const { store } = app.access;
    if (store === null) logger.info('SIGHUP: no --tokens_file to reload');
    else store.reload();
  });

  // The seed's start-up line; its fields give the address bound.
  logger.info({ ...bindFields(config), ...(config.tls === null ? {} : { tls: true }) }, `Starting HTTP server on ${config.server.address}`);
  try {
    await app.server.listen({ host: config.server.host, port: config.server.port });
  } catch (error) {
    logger.fatal({ err: error }, `cannot listen on ${config.server.address}`);
    await app.close();
    process.exit(1);
  }
}

main().catch((error: unknown) => {
  process.stderr.write(`databalancer: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exit(1);
});
