/**
 * The thinnest HTTP service in front of MySQL, the "passthrough" baseline of
 * scenarios 5a/5b: node:http, JSON.parse of the body, the body's `query` run
 * on a mysql2 pool as it is (no validation, no row cap), JSON.stringify of the
 * rows. Run as a separate process by bench/lib/baseline-servers.ts; prints
 * `listening <port>` once it accepts connections. Never expose it: it runs
 * any SQL it is sent.
 *
 * Environment: BENCH_TARGET = JSON {host, port, user, password, database}.
 */
import { createServer } from 'node:http';
import mysql from 'mysql2';

const target = JSON.parse(process.env['BENCH_TARGET'] ?? '{}') as mysql.PoolOptions;
const pool = mysql.createPool({
  ...target,
  connectionLimit: 4,
  charset: 'utf8mb4_unicode_ci',
  timezone: 'Z',
  dateStrings: true,
  supportBigNumbers: true,
});

const server = createServer((request, response) => {
  const chunks: Buffer[] = [];
  request.on('data', (chunk: Buffer) => chunks.push(chunk));
  request.on('end', () => {
    let sql: unknown;
    try {
      sql = (JSON.parse(Buffer.concat(chunks).toString('utf8')) as { query?: unknown }).query;
    } catch {
      sql = undefined;
    }
    if (typeof sql !== 'string') {
      response.writeHead(400, { 'content-type': 'application/json' }).end('{"error":"body must be {\\"query\\": \\"SELECT ...\\"}"}');
      return;
    }
    pool.query(sql, (error, rows) => {
      if (error !== null) {
        response.writeHead(500, { 'content-type': 'application/json' }).end(JSON.stringify({ error: error.message }));
        return;
      }
      response.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ results: rows }));
    });
  });
});
server.keepAliveTimeout = 65_000;
server.listen(0, '127.0.0.1', () => {
  const address = server.address();
  process.stdout.write(`listening ${typeof address === 'object' && address !== null ? address.port : 0}\n`);
});
process.once('SIGTERM', () => {
  server.close();
  server.closeAllConnections();
  pool.end(() => process.exit(0));
});
