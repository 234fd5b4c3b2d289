/**
 * Test harness: builds a real gateway in process (createApp) against real
 * shards, listens on a free loopback port, and speaks HTTP to it. Also opens
 * direct connections to shards so tests can check what landed where.
 */
import { randomBytes } from 'node:crypto';
import mysql from 'mysql2/promise';
import { createApp, type App, type AppOptions } from '../../../src/app.js';
import { loadConfig, type Config } from '../../../src/config/config.js';
import { createLogger } from '../../../src/logging/logger.js';
import type { ServerSpec } from '../../../scripts/lib/mariadb-cluster.js';

/** The database every test gateway uses on each shard unless told otherwise. */
export const TEST_DATABASE = 'databalancer';

/** `--shards` value naming each server by its spec name. */
export function shardsFlag(specs: readonly ServerSpec[], database = TEST_DATABASE): string {
  return specs.map((s) => `${s.name}=mysql://root@${s.host}:${s.port}/${database}`).join(',');
}

/** A gateway listening on 127.0.0.1:<random port>. */
export interface TestGateway {
  url: string;
  app: App;
  config: Config;
  close(): Promise<void>;
}

/**
 * Starts a gateway over `specs` with extra flags (e.g. ['--query_max_rows=5']).
 * Logs are silent unless LOG_LEVEL is set.
 */
export async function startGateway(specs: readonly ServerSpec[], flags: readonly string[] = [], options: AppOptions & { database?: string } = {}): Promise<TestGateway> {
  const config = loadConfig([`--shards=${shardsFlag(specs, options.database)}`, '--server_address=127.0.0.1:0', ...flags], {
    LOG_LEVEL: process.env['LOG_LEVEL'] ?? 'silent',
  });
  const logger = createLogger(config.logLevel);
  const app = await createApp(config, logger, options);
  const address = await app.server.listen({ host: '127.0.0.1', port: 0 });
  return { url: address, app, config, close: () => app.close() };
}

/** A family name no other test uses. */
export function uniqueFamily(prefix = 'fam'): string {
  return `${prefix}_${randomBytes(5).toString('hex')}`;
}

/** An HTTP answer: status and parsed JSON body (or text when not JSON). */
export interface ApiResponse<T = any> {
  status: number;
  body: T;
  headers: Headers;
}

/** Sends a request with an optional JSON body. */
export async function api<T = any>(
  gateway: { url: string },
  method: string,
  path: string,
  body?: unknown,
  headers: Record<string, string> = {},
): Promise<ApiResponse<T>> {
  const init: RequestInit = { method, headers: { ...headers } };
  if (body !== undefined) {
    init.body = typeof body === 'string' ? body : JSON.stringify(body);
    (init.headers as Record<string, string>)['content-type'] ??= 'application/json';
  }
  const response = await fetch(`${gateway.url}${path}`, init);
  const text = await response.text();
  let parsed: unknown = text;
  try {
    parsed = JSON.parse(text);
  } catch {
    // not JSON: keep the text
  }
  return { status: response.status, body: parsed as T, headers: response.headers };
}

/** PUT /api/log. */
export function ingest(gateway: { url: string }, family: string, schema: Record<string, string>, logs: unknown[], headers: Record<string, string> = {}): Promise<ApiResponse> {
  return api(gateway, 'PUT', '/api/log', { family, schema, logs }, headers);
}

/** POST /api/query. */
export function query(gateway: { url: string }, sql: string): Promise<ApiResponse> {
  return api(gateway, 'POST', '/api/query', { query: sql });
}

/** A direct connection to a shard's database, to check what landed where. */
export async function connectShard(spec: ServerSpec, database: string | null = TEST_DATABASE): Promise<mysql.Connection> {
  return mysql.createConnection({
    host: spec.host,
    port: spec.port,
    user: 'root',
    password: '',
    ...(database === null ? {} : { database }),
    supportBigNumbers: true,
    dateStrings: true,
  });
}

/** Runs one statement directly on a shard and returns its rows. */
export async function onShard<T = Record<string, unknown>>(
  spec: ServerSpec,
  sql: string,
  values: unknown[] = [],
  database: string | null = TEST_DATABASE,
): Promise<T[]> {
  const connection = await connectShard(spec, database);
  try {
    const [rows] = await connection.query(sql, values);
    return rows as T[];
  } finally {
    await connection.end();
  }
}

/** True when `table` exists in the shard's database. */
export async function tableExists(spec: ServerSpec, table: string, database = TEST_DATABASE): Promise<boolean> {
  const rows = await onShard(spec, 'SELECT 1 FROM information_schema.TABLES WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ?', [database, table], null);
  return rows.length > 0;
}
