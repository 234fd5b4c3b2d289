/**
 * `npm run bench:query-layers [-- --rounds=N --ops=N --server=mysql://...]`:
 * what each layer of the query path costs per request, in process, for
 * scenario 5a's primary-key lookup (distinct SQL texts, one row back), on a
 * throwaway MariaDB/MySQL server unless --server names one (it creates and
 * drops `bench_query_layers_<stamp>` there).
 *
 * It runs compiled (`tsc -p tsconfig.bench.json`, then
 * `node dist/bench/query-layers.js`), as the gateway does in production.
 * The layers, each doing the work of the one above plus one thing more:
 * 1. mysql2's pool runs the SQL (callback API, rows as objects): the
 *    database work of the passthrough baseline;
 * 2. + the validation verdict (lexer, digest, cache) and the row cap;
 * 3. + the gateway's rows (query/run-select.ts: typed cells, byte budget,
 *    duplicate-name check) on a connection of that pool;
 * 4. + the shard's reader pool (knex over mysql2's pool) and its statement deadline
 *    (ShardManager.withReader);
 * 5. + cancellation: an AbortSignal through withReader (one for every
 *    request, so only its listener and races count);
 * 6. + a new AbortController per request, as every request has one;
 * 7. the whole QueryService.query: placement from the catalog cache, the
 *    plan, query_timeout_ms, access check, result.
 * The HTTP layers (fastify, access control, metrics, body checks) are what
 * `npm run bench -- --only=5` measures against the passthrough. Rounds
 * alternate the layers; medians of CPU and wall time are printed in
 * microseconds per request.
 */
import mysql from 'mysql2';
import { startCluster, type Cluster } from '../scripts/lib/mariadb-cluster.js';
import { createApp } from '../src/app.js';
import { loadConfig } from '../src/config/config.js';
import { createLogger } from '../src/logging/logger.js';
import { applyRowCap } from '../src/query/row-cap.js';
import { runSelect } from '../src/query/run-select.js';
import { ValidationCache } from '../src/query/validation-cache.js';
import type { PooledConnection } from '../src/shards/connection.js';
import { median } from './lib/stats.js';

const ROWS = 20_000;
const MAX_ROWS = 1000;
const MAX_BYTES = 10 * 1024 * 1024;

function flag(name: string, fallback: number): number {
  const given = process.argv.find((a) => a.startsWith(`--${name}=`));
  const value = given === undefined ? fallback : Number(given.slice(name.length + 3));
  if (!Number.isInteger(value) || value <= 0) throw new Error(`--${name} must be a positive integer`);
  return value;
}

function serverFlag(): { host: string; port: number; user: string; password: string } | undefined {
  const given = process.argv.find((a) => a.startsWith('--server='))?.slice('--server='.length);
  if (given === undefined) return undefined;
  const url = new URL(given.includes('://') ? given : `mysql://${given}`);
  return { host: url.hostname, port: Number(url.port || 3306), user: decodeURIComponent(url.username || 'root'), password: decodeURIComponent(url.password) };
}

function poolQuery(pool: mysql.Pool, sql: string): Promise<unknown> {
  return new Promise((resolve, reject) => pool.query(sql, (error, rows) => (error ? reject(error) : resolve(rows))));
}

function poolConnection(pool: mysql.Pool): Promise<mysql.PoolConnection> {
  return new Promise((resolve, reject) => pool.getConnection((error, connection) => (error ? reject(error) : resolve(connection))));
}

async function main(): Promise<void> {
  const rounds = flag('rounds', 7);
  const ops = flag('ops', 5000);
  let cluster: Cluster | undefined;
  let server = serverFlag();
  if (server === undefined) {
    cluster = await startCluster({ count: 1, names: ['query_layers'] });
    const spec = cluster.servers[0];
    if (spec === undefined) throw new Error('no server started');
    server = { host: spec.host, port: spec.port, user: 'root', password: '' };
  }
  const database = `bench_query_layers_${Date.now()}`;
  const address = `mysql://${encodeURIComponent(server.user)}:${encodeURIComponent(server.password)}@${server.host}:${server.port}/${database}`;
  const app = await createApp(loadConfig([`--shards=a=${address}`, '--purge_interval_seconds=0'], { NODE_ENV: 'production' }), createLogger('warn'));
  const pool = mysql.createPool({ ...server, database, connectionLimit: 4, charset: 'utf8mb4_unicode_ci', timezone: 'Z', dateStrings: true, supportBigNumbers: true });
  try {
    const family = 'perf_dog_registry';
    for (let from = 0; from < ROWS; from += 5000) {
      const logs = Array.from({ length: 5000 }, (_, i) => ({ name: `dog${from + i}`, breed: ['lab', 'pug', 'collie', 'beagle'][i % 4], weight: (from + i) % 90 }));
      const answer = await app.server.inject({ method: 'PUT', url: '/api/log', payload: { family, schema: { name: 'string', breed: 'string', weight: 'int' }, logs } });
      if (answer.statusCode !== 200) throw new Error(`loading the rows failed: ${answer.statusCode} ${answer.body}`);
    }
    const shard = app.manager.shards[0]?.id ?? 'a';
    const texts = Array.from({ length: ops }, (_, i) => `SELECT * FROM ${family} WHERE id = ${1 + ((i * 7919) % ROWS)}`);
    const validator = new ValidationCache();
    const shared = new AbortController();
    const limits = { maxRows: MAX_ROWS + 1, maxBytes: MAX_BYTES };
    const capped = (sql: string): string => applyRowCap(validator.validate(sql), MAX_ROWS + 1);
    const gatewayRows = async (sql: string): Promise<unknown> => {
      const connection = await poolConnection(pool);
      try {
        return await runSelect(connection as unknown as PooledConnection, capped(sql), limits);
      } finally {
        connection.release();
      }
    };
    const layers: Array<[string, (sql: string) => Promise<unknown>]> = [
      ['mysql2 pool.query', (sql) => poolQuery(pool, sql)],
      ['+ validation verdict and row cap', (sql) => poolQuery(pool, capped(sql))],
      ['+ gateway rows (run-select.ts)', gatewayRows],
      ['+ reader pool and deadline', (sql) => app.manager.withReader(shard, family, (c) => runSelect(c, capped(sql), limits))],
      ['+ cancellation (one signal for all)', (sql) => app.manager.withReader(shard, family, (c) => runSelect(c, capped(sql), limits), shared.signal)],
      ['+ an AbortController per request', (sql) => app.manager.withReader(shard, family, (c) => runSelect(c, capped(sql), limits), new AbortController().signal)],
      ['QueryService.query (whole)', (sql) => app.services.query.query(sql, { controller: new AbortController(), authorize: () => undefined })],
    ];
    const cpu = new Map<string, number[]>(layers.map(([name]) => [name, []]));
    const wall = new Map<string, number[]>(layers.map(([name]) => [name, []]));
    for (let round = -1; round < rounds; round++) {
      for (const [name, run] of layers) {
        const startedCpu = process.cpuUsage();
        const started = process.hrtime.bigint();
        for (let i = 0; i < ops; i++) await run(texts[i] as string);
        const used = process.cpuUsage(startedCpu);
        if (round < 0) continue; // the first round warms every layer up
        wall.get(name)?.push(Number(process.hrtime.bigint() - started) / 1000 / ops);
        cpu.get(name)?.push((used.user + used.system) / ops);
      }
    }
    process.stdout.write(
      `Query path layers, in process (Node ${process.version}; ${rounds} rounds of ${ops} distinct primary-key lookups; medians, microseconds per request; CPU includes mysql2's)\n`,
    );
    let previous = 0;
    for (const [name] of layers) {
      const value = median(cpu.get(name) ?? []);
      const delta = previous === 0 ? '' : `  (${value - previous >= 0 ? '+' : ''}${(value - previous).toFixed(1)} over the layer above)`;
      process.stdout.write(`${name.padEnd(37)} CPU ${value.toFixed(1).padStart(6)}  wall ${median(wall.get(name) ?? []).toFixed(1).padStart(6)}${delta}\n`);
      previous = value;
    }
  } finally {
    await new Promise<void>((resolve) => pool.end(() => resolve()));
    await app.manager.withShard(app.manager.shards[0]?.id ?? 'a', undefined, (p) => p.writer.raw(`DROP DATABASE IF EXISTS \`${database}\``)).catch(() => undefined);
    await app.close();
    await cluster?.stop();
  }
}

main().catch((error: unknown) => {
  process.stderr.write(`${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
  process.exitCode = 1;
});
