/**
 * Connections of a shard's pools, for the code that needs one session for
 * several statements (the ingest transaction, federation staging, DDL under
 * a lock): borrow one connection, run raw statements on it, give it back.
 * Also the client-side deadlines: a statement the server does not answer in
 * time (a hung server) and a borrowed connection whose request was cancelled
 * (past query_timeout_ms, or the client went away) end the same way: the
 * statement is killed on the server from another connection and the local
 * connection is destroyed, so the pool never gets back one that is stuck.
 * Knows nothing of families or users' SQL.
 */
import type { Knex } from 'knex';
import { PoolConnection, type Connection, type QueryError } from 'mysql2';
import mysql from 'mysql2/promise';
import type { ShardConfig } from '../config/config.js';
import { noAnswerError } from '../errors/mysql-errors.js';

/** A raw mysql2 connection taken from a knex pool. */
export type PooledConnection = Connection;

/** Kills server thread `threadId` from another connection (KILL CONNECTION); never rejects. */
export type ThreadKiller = (threadId: number) => Promise<void>;

/** How a borrowed connection is given up early. */
export interface ConnectionControl {
  /**
   * Aborting it ends the work at once with the signal's reason: the
   * connection's server thread is killed (`kill`) and the connection
   * destroyed. While a signal governs, the pool's own statement deadline is
   * off (the signal carries the request's deadline).
   */
  signal?: AbortSignal;
  kill?: ThreadKiller;
}

/** How long a cancelled request waits for its KILL before answering anyway (the server may be hung). */
const KILL_WAIT_MS = 3000;

/** The per-connection statement deadline installed by {@link guardStatements}. */
interface Guard {
  kind: 'query' | 'write';
  timeoutMs: number;
  /** False while a signal governs the borrowed connection. */
  enabled: boolean;
  kill: ThreadKiller | undefined;
}

const guards = new WeakMap<object, Guard>();

interface GuardableConnection {
  query(...args: unknown[]): unknown;
  threadId?: number | null;
  stream?: { destroy(): void };
}

/**
 * Destroys the socket of `connection` (not a graceful end: a hung server
 * would never answer it), so every pending statement fails at once and the
 * pool discards the connection when it comes back.
 */
export function destroyConnection(connection: unknown): void {
  // A connection of a mysql2 pool (the readers') leaves its pool now, not when its socket's close event
  // comes, so it is never handed out again meanwhile. Not PoolConnection.destroy(): that marks it closing,
  // and mysql2 then never fails the statements still queued on it.
  if (connection instanceof PoolConnection) (connection as unknown as { _removeFromPool?: () => void })._removeFromPool?.();
  (connection as GuardableConnection).stream?.destroy();
}

/**
 * Gives every statement on `connection` a client-side deadline of
 * `timeoutMs` (a write's: write_timeout_ms; a query's: query_timeout_ms plus
 * a margin): past it, the statement is killed on the server (`kill`), the
 * connection destroyed, and the statement fails with the gateway's no-answer
 * error. Installed once per connection by the pools' afterCreate hooks.
 */
export function guardStatements(connection: unknown, kind: 'query' | 'write', timeoutMs: number, kill?: ThreadKiller): void {
  const conn = connection as GuardableConnection;
  const guard: Guard = { kind, timeoutMs, enabled: true, kill };
  guards.set(conn, guard);
  const query = conn.query.bind(conn);
  conn.query = (...args: unknown[]): unknown => {
    const at = args.findLastIndex((a) => typeof a === 'function');
    if (at < 0) return query(...args);
    const callback = args[at] as (error: unknown, ...rest: unknown[]) => void;
    // mysql2 fails a statement sent on a connection that is already closed with a bare fatal error; say what it is.
    const lost = closedState(conn);
    let timedOut = false;
    const timer = guard.enabled
      ? setTimeout(() => {
          timedOut = true;
          const threadId = conn.threadId;
          destroyConnection(conn);
          if (typeof threadId === 'number') void guard.kill?.(threadId);
        }, guard.timeoutMs)
      : undefined;
    args[at] = (error: unknown, ...rest: unknown[]) => {
      clearTimeout(timer);
      if (timedOut) callback(noAnswerError(guard.kind, guard.timeoutMs));
      else if (error && lost !== null) callback(Object.assign(new Error(`connection already closed: ${String((error as Error).message)}`, { cause: error }), { code: lost, fatal: true }));
      else callback(error, ...rest);
    };
    return query(...args);
  };
}

/**
 * Null while `connection` is open; else the code of why it closed: the
 * server's own (ER_CONNECTION_KILLED, ...) when it said, else PROTOCOL_CONNECTION_LOST.
 */
function closedState(connection: unknown): string | null {
  const c = connection as { _closing?: unknown; _fatalError?: { code?: unknown } | null; _protocolError?: { code?: unknown } | null; stream?: { destroyed?: unknown } };
  const closed = c._closing === true || (c._fatalError ?? null) !== null || (c._protocolError ?? null) !== null || c.stream?.destroyed === true;
  if (!closed) return null;
  const code = c._protocolError?.code ?? c._fatalError?.code;
  return typeof code === 'string' && code.length > 0 ? code : 'PROTOCOL_CONNECTION_LOST';
}

/** A promise that rejects with the signal's reason once it aborts (never settles otherwise). */
function aborted(signal: AbortSignal): { promise: Promise<never>; dispose(): void } {
  let onAbort = (): void => undefined;
  const promise = new Promise<never>((_, reject) => {
    onAbort = () => reject(signal.reason);
    if (signal.aborted) onAbort();
    else signal.addEventListener('abort', onAbort, { once: true });
  });
  promise.catch(() => undefined);
  return { promise, dispose: () => signal.removeEventListener('abort', onAbort) };
}

/**
 * Runs `work` on one connection of `knex`'s pool, always giving it back.
 * With `control.signal`, waiting for a connection and the work itself end
 * when the signal aborts: the connection is killed on the server and
 * destroyed before it goes back to the pool (see {@link ConnectionControl}).
 */
export async function withConnection<T>(knex: Knex, work: (connection: PooledConnection) => Promise<T>, control: ConnectionControl = {}): Promise<T> {
  const { signal } = control;
  if (signal === undefined) {
    const connection = (await knex.client.acquireConnection()) as PooledConnection;
    try {
      return await work(connection);
    } finally {
      await knex.client.releaseConnection(connection);
    }
  }
  if (signal.aborted) throw signal.reason;
  const abort = aborted(signal);
  const acquiring = knex.client.acquireConnection() as Promise<PooledConnection>;
  let connection: PooledConnection;
  try {
    connection = await Promise.race([acquiring, abort.promise]);
  } catch (error) {
    abort.dispose();
    // Came too late: give it straight back when it arrives.
    acquiring.then((late) => knex.client.releaseConnection(late), () => undefined);
    throw error;
  }
  const guard = guards.get(connection);
  if (guard !== undefined) guard.enabled = false;
  try {
    const running = work(connection);
    running.catch(() => undefined);
    return await Promise.race([running, abort.promise]);
  } finally {
    abort.dispose();
    if (signal.aborted) await cancelConnection(connection, control.kill ?? guard?.kill);
    if (guard !== undefined) guard.enabled = true;
    await knex.client.releaseConnection(connection);
  }
}

/** Kills the connection's server thread (waiting a bounded time) and destroys it locally. */
async function cancelConnection(connection: PooledConnection, kill: ThreadKiller | undefined): Promise<void> {
  const threadId = (connection as unknown as GuardableConnection).threadId;
  destroyConnection(connection);
  if (kill === undefined || typeof threadId !== 'number') return;
  await withTimeout(kill(threadId), KILL_WAIT_MS).catch(() => undefined);
}

/** What a statement reports when it returns no rows. */
export interface StatementResult {
  affectedRows: number;
}

/** Runs a statement with no result rows of interest (DDL, SET, INSERT of staged rows); resolves with its affected rows. */
export function execute(connection: PooledConnection, sql: string): Promise<StatementResult> {
  return new Promise((resolve, reject) => {
    connection.query(sql, (error: QueryError | null, result: unknown) => {
      if (error) reject(error);
      else resolve({ affectedRows: Number((result as { affectedRows?: unknown } | undefined)?.affectedRows ?? 0) });
    });
  });
}

/** Runs a query and returns raw rows as arrays of strings (or null), for copying between servers. */
export function fetchRawRows(connection: PooledConnection, sql: string): Promise<Array<Array<string | null>>> {
  return new Promise((resolve, reject) => {
    connection.query(
      {
        sql,
        rowsAsArray: true,
        typeCast: (field: { string(): string | null }) => field.string(),
      },
      (error: QueryError | null, rows: unknown) => (error ? reject(error) : resolve(rows as Array<Array<string | null>>)),
    );
  });
}

/** Rejects with an Error after `ms` milliseconds unless `promise` settles first. */
export function withTimeout<T>(promise: PromiseLike<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer within ${ms} ms`)), ms);
  });
  return Promise.race([Promise.resolve(promise), timeout]).finally(() => clearTimeout(timer));
}

/**
 * A connection of its own to the server of `config`, outside every pool and
 * with no database selected, for bootstrap, side statements (KILL) and
 * reading a shard's recorded identity. The caller ends it.
 */
export function openServerConnection(config: ShardConfig, connectTimeoutMs: number): Promise<mysql.Connection> {
  return mysql.createConnection({
    host: config.host,
    port: config.port,
    user: config.user,
    password: config.password,
    connectTimeout: connectTimeoutMs,
  });
}
