/**
 * Entry point: loadConfig -> createApp -> listen (or, with --workers, a
 * supervisor of worker processes); signal handling. The only place that
 * reads process.argv/env and calls process.exit.
 */
import cluster from 'node:cluster';
import { loadConfig, helpText, HelpRequested, type Config } from './config/config.js';
import type { Logger } from './logging/logger.js';
import { createLogger } from './logging/logger.js';
import { createApp } from './app.js';
import { isAppError } from './errors/app-error.js';

function readConfig(): Config {
  try {
    return loadConfig(process.argv.slice(2), process.env);
  } catch (error) {
    if (error instanceof HelpRequested) {
      process.stdout.write(`${helpText()}\n`);
      process.exit(0);
    }
    if (isAppError(error) && error.code === 'CONFIG_INVALID') {
      const problems = error.details['problems'];
      const line = Array.isArray(problems) ? problems.join('; ') : error.message;
      process.stderr.write(`databalancer: invalid configuration: ${line} (run with --help for every flag)\n`);
      process.exit(2);
    }
    throw error;
  }
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
  logger.info({ workers: config.workers, ...bindFields(config) }, `Starting ${config.workers} gateway workers on ${config.server.address}`);
  for (let i = 0; i < config.workers; i++) fork();
}

async function main(): Promise<void> {
  const config = readConfig();
  const logger = createLogger(config.logLevel);
  if (config.workers > 1 && cluster.isPrimary) {
    supervise(config, logger);
    return;
  }
  const app = await createApp(config, logger);

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

  // The seed's start-up line; its fields give the address bound.
  logger.info(bindFields(config), `Starting HTTP server on ${config.server.address}`);
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
