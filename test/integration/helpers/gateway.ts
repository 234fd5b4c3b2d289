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

/** The spec named `name` among `specs`; throws when missing. */
export function specNamed(specs: readonly ServerSpec[], name: string): ServerSpec {
  const spec = specs.find((s) => s.name === name);
  if (spec === undefined) throw new Error(`no shard named ${name} (have ${specs.map((s) => s.name).join(', ')})`);
  return spec;
}

/** Runs `sql` on a shard, answering `fallback` when the table or the database does not exist (yet). */
async function onShardOr<T>(spec: ServerSpec, sql: string, values: unknown[], fallback: T[]): Promise<T[]> {
  try {
    return await onShard<T>(spec, sql, values);
  } catch (error) {
    const code = (error as { code?: unknown }).code;
    if (code === 'ER_NO_SUCH_TABLE' || code === 'ER_BAD_DB_ERROR') return fallback;
    throw error;
  }
}

/** What one family has written, everywhere: compare two snapshots to prove a request wrote nothing. */
export interface FamilySnapshot {
  /** shard name -> the family table's columns (exact names, in order), or null when the table does not exist there. */
  columns: Record<string, string[] | null>;
  /** shard name -> rows of the family table (0 when it does not exist). */
  rows: Record<string, number>;
  /** shard name -> raw_logs rows of the family. */
  rawLogs: Record<string, number>;
  /** shard name -> applied Idempotency-Keys of the family. */
  idempotencyKeys: Record<string, number>;
  /** Catalog (first spec) placement rows of the family: shard names. */
  placements: string[];
  /** Catalog (first spec) declared fields of the family: name:type. */
  declared: string[];
}

/** Reads everything `family` has on every shard and in the catalog (on `specs[0]`), directly. */
export async function snapshotFamily(specs: readonly ServerSpec[], family: string): Promise<FamilySnapshot> {
  const snapshot: FamilySnapshot = { columns: {}, rows: {}, rawLogs: {}, idempotencyKeys: {}, placements: [], declared: [] };
  await Promise.all(
    specs.map(async (spec) => {
      const columns = await onShard<{ name: string }>(
        spec,
        'SELECT COLUMN_NAME AS name FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ? ORDER BY ORDINAL_POSITION',
        [TEST_DATABASE, family],
        null,
      );
      snapshot.columns[spec.name] = columns.length === 0 ? null : columns.map((c) => c.name);
      const rows = columns.length === 0 ? [] : await onShardOr<{ n: number }>(spec, `SELECT COUNT(*) AS n FROM \`${family}\``, [], []);
      snapshot.rows[spec.name] = Number(rows[0]?.n ?? 0);
      const raw = await onShardOr<{ n: number }>(spec, 'SELECT COUNT(*) AS n FROM raw_logs WHERE family = ?', [family], []);
      snapshot.rawLogs[spec.name] = Number(raw[0]?.n ?? 0);
      const keys = await onShardOr<{ n: number }>(spec, 'SELECT COUNT(*) AS n FROM databalancer_idempotency WHERE family = ?', [family], []);
      snapshot.idempotencyKeys[spec.name] = Number(keys[0]?.n ?? 0);
    }),
  );
  const catalog = specs[0];
  if (catalog === undefined) throw new Error('no shards');
  const placements = await onShardOr<{ shard: string }>(catalog, 'SELECT shard FROM databalancer_placements WHERE family = ?', [family], []);
  snapshot.placements = placements.map((p) => p.shard);
  const declared = await onShardOr<{ name: string; declared_type: string }>(
    catalog,
    'SELECT name, declared_type FROM databalancer_columns WHERE family = ? ORDER BY position',
    [family],
    [],
  );
  snapshot.declared = declared.map((d) => `${d.name}:${d.declared_type}`);
  return snapshot;
}

/** The shards (by name) whose database holds a table named `family`. */
export async function holdersOf(specs: readonly ServerSpec[], family: string, database = TEST_DATABASE): Promise<string[]> {
  const found = await Promise.all(specs.map((s) => tableExists(s, family, database)));
  return specs.filter((_, i) => found[i]).map((s) => s.name);
}

/** A free TCP port on 127.0.0.1 (closed again before returning). */
export async function freePort(): Promise<number> {
  const { createServer } = await import('node:net');
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address !== null ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

/**
 * Ingests one event into fresh families (`prefix_<hex>`, schema `{ n: 'int' }`)
 * until families sit on every shard named in `wanted`; returns shard name -> family.
 */
export async function familiesOnShards(
  gateway: { url: string },
  wanted: readonly string[],
  prefix = 'spread',
  maxTries = 60,
): Promise<Map<string, string>> {
  const found = new Map<string, string>();
  for (let i = 0; i < maxTries && found.size < wanted.length; i++) {
    const family = uniqueFamily(prefix);
    const answer = await ingest(gateway, family, { n: 'int' }, [{ n: i }]);
    if (answer.status !== 200) throw new Error(`ingest of ${family} failed: ${answer.status} ${JSON.stringify(answer.body)}`);
    const shard = String(answer.body.shard);
    if (wanted.includes(shard) && !found.has(shard)) found.set(shard, family);
  }
  if (found.size < wanted.length) throw new Error(`no family landed on every shard of ${wanted.join(', ')} in ${maxTries} tries`);
  return found;
}

/** A gateway running as its own process (`node --import tsx src/main.ts`). */
export interface GatewayProcess {
  url: string;
  child: import('node:child_process').ChildProcess;
  /** Everything it printed so far. */
  output(): string;
  /** SIGKILL, and waits for the exit. */
  kill(): Promise<void>;
}

/**
 * Starts a gateway process over `specs` with extra flags; resolves once
 * /healthz answers. Tests that write hundreds of thousands of rows give it a
 * `database` of their own, so other tests' cross-shard queries over
 * raw_logs do not have to copy them.
 */
export async function spawnGateway(specs: readonly ServerSpec[], flags: readonly string[] = [], database = TEST_DATABASE): Promise<GatewayProcess> {
  const { spawn } = await import('node:child_process');
  const port = await freePort();
  let output = '';
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/main.ts', `--shards=${shardsFlag(specs, database)}`, `--server_address=127.0.0.1:${port}`, ...flags], {
    cwd: process.cwd(),
    env: { ...process.env, LOG_LEVEL: process.env['LOG_LEVEL'] === 'silent' || process.env['LOG_LEVEL'] === undefined ? 'warn' : process.env['LOG_LEVEL'] },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  child.stdout?.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr?.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const url = `http://127.0.0.1:${port}`;
  const kill = async (): Promise<void> => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill('SIGKILL');
    await exited;
  };
  const deadline = Date.now() + 60_000;
  for (;;) {
    try {
      if ((await fetch(`${url}/healthz`)).ok) return { url, child, output: () => output, kill };
    } catch {
      // not listening yet
    }
    if (child.exitCode !== null || Date.now() > deadline) {
      await kill();
      throw new Error(`gateway did not start: ${output}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

/** Polls GET /api/families/{family}/move until its state is one of `states`; returns that answer's body. */
export async function waitForMove(
  gateway: { url: string },
  family: string,
  states: readonly string[] = ['done', 'failed', 'cancelled'],
  timeoutMs = 60_000,
): Promise<Record<string, unknown>> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const answer = await api(gateway, 'GET', `/api/families/${family}/move`);
    if (answer.status === 200 && states.includes(answer.body.state as string)) return answer.body as Record<string, unknown>;
    if (Date.now() > deadline) throw new Error(`move of ${family} did not reach ${states.join('/')}: ${JSON.stringify(answer.body)}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}
