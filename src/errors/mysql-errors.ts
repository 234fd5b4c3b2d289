/**
 * Translates mysql2 and knex errors into AppErrors. The only place that looks
 * at driver error codes; it never inspects message text to decide.
 */
import { AppError, isAppError, shardUnavailable } from './app-error.js';

/** The fields of a mysql2 / Node socket / knex error that we branch on. */
interface DriverErrorLike {
  code?: unknown;
  errno?: unknown;
  sqlMessage?: unknown;
  name?: unknown;
  fatal?: unknown;
}

/**
 * Connection-level failures (the shard is down, unreachable, or dropped us),
 * each with the `reason` the answer carries. Only these, and the codes below
 * with their own reasons, are SHARD_UNAVAILABLE: mysql2 also marks some
 * errors of its own (a row it cannot parse) `fatal`, and those are not the
 * shard's fault.
 */
const UNAVAILABLE_REASONS: ReadonlyMap<string, string> = new Map([
  ['ECONNREFUSED', 'unreachable'],
  ['ETIMEDOUT', 'unreachable'],
  ['EHOSTUNREACH', 'unreachable'],
  ['ENETUNREACH', 'unreachable'],
  ['ENOTFOUND', 'unreachable'],
  ['EAI_AGAIN', 'unreachable'],
  ['ECONNRESET', 'connection_lost'],
  ['ECONNABORTED', 'connection_lost'],
  ['EPIPE', 'connection_lost'],
  ['PROTOCOL_CONNECTION_LOST', 'connection_lost'],
  ['PROTOCOL_SEQUENCE_TIMEOUT', 'connection_lost'],
  ['PROTOCOL_ENQUEUE_AFTER_FATAL_ERROR', 'connection_lost'],
  ['PROTOCOL_ENQUEUE_AFTER_QUIT', 'connection_lost'],
  ['ER_SERVER_SHUTDOWN', 'connection_lost'],
  ['ER_CONNECTION_KILLED', 'connection_killed'],
  ['ER_CON_COUNT_ERROR', 'too_many_connections'],
  ['ER_TOO_MANY_USER_CONNECTIONS', 'too_many_connections'],
  ['ER_HOST_IS_BLOCKED', 'host_blocked'],
  ['ER_BAD_DB_ERROR', 'unknown_database'],
  ['ER_OPTION_PREVENTS_STATEMENT', 'read_only'],
  ['ER_READ_ONLY_MODE', 'read_only'],
]);

/** ER_ACCESS_DENIED_ERROR (1045): the user or password is wrong; ER_DBACCESS_DENIED_ERROR (1044): no rights on the database. */
const AUTH_ERRNOS: ReadonlySet<number> = new Set([1044, 1045]);
const AUTH_CODES: ReadonlySet<string> = new Set(['ER_ACCESS_DENIED_ERROR', 'ER_DBACCESS_DENIED_ERROR']);

/** ER_QUERY_INTERRUPTED (1317): KILL QUERY on the server (an operator, or the server shutting down). */
const INTERRUPTED_ERRNO = 1317;

/** Code of the error the gateway's own statement deadline raises (shards/connection.ts). */
export const NO_ANSWER_CODE = 'DATABALANCER_NO_ANSWER';

/**
 * The error of a statement the server did not answer within the gateway's
 * own deadline (a hung server): `kind` says whether it was a query's
 * (query_timeout_ms plus a margin) or a write's (write_timeout_ms).
 */
export function noAnswerError(kind: 'query' | 'write', timeoutMs: number): Error {
  return Object.assign(new Error(`no answer within ${timeoutMs} ms`), { code: NO_ANSWER_CODE, kind, timeoutMs });
}

/** MariaDB ER_STATEMENT_TIMEOUT (1969) and MySQL ER_QUERY_TIMEOUT (3024). */
const TIMEOUT_ERRNOS: ReadonlySet<number> = new Set([1969, 3024]);

/** Errors a user's own SELECT can cause on a healthy server (bad column, bad function, ...). */
const QUERY_ERROR_CODES_PREFIX = 'ER_';

/** Context added to every translated error. */
export interface MysqlErrorContext {
  shard: string;
  family?: string;
  /** True when the statement was the user's own SQL (server errors become QUERY_FAILED). */
  userQuery?: boolean;
}

function asDriverError(error: unknown): DriverErrorLike {
  return typeof error === 'object' && error !== null ? (error as DriverErrorLike) : {};
}

function isAuthError(e: DriverErrorLike): boolean {
  return (typeof e.code === 'string' && AUTH_CODES.has(e.code)) || (typeof e.errno === 'number' && AUTH_ERRNOS.has(e.errno));
}

/**
 * True when the error means the shard could not be used: unreachable, the
 * connection died, the pool timed out, or the server refused the credentials.
 * A `fatal` flag alone does not count (mysql2 sets it on its own parse errors).
 */
export function isUnavailableError(error: unknown): boolean {
  const e = asDriverError(error);
  if (e.name === 'KnexTimeoutError') return true;
  if (isAuthError(e)) return true;
  return typeof e.code === 'string' && UNAVAILABLE_REASONS.has(e.code);
}

/** The driver error itself, or the one an AppError was translated from. */
function driverCause(error: unknown): DriverErrorLike {
  return asDriverError(isAppError(error) ? error.cause : error);
}

/** True for MySQL's duplicate-key error (ER_DUP_ENTRY, 1062), also once translated to an AppError. */
export function isDuplicateKeyError(error: unknown): boolean {
  const e = driverCause(error);
  return e.code === 'ER_DUP_ENTRY' || e.errno === 1062;
}

/** True for ER_DUP_FIELDNAME (1060): a column of that name already exists. */
export function isDuplicateColumnError(error: unknown): boolean {
  const e = asDriverError(error);
  return e.code === 'ER_DUP_FIELDNAME' || e.errno === 1060;
}

/** True for ER_NO_SUCH_TABLE (1146), also once translated to an AppError. */
export function isNoSuchTableError(error: unknown): boolean {
  const e = driverCause(error);
  return e.code === 'ER_NO_SUCH_TABLE' || e.errno === 1146;
}

/** True for ER_VIEW_INVALID (1356): a view names a table that is gone (raw_logs for an instant while a moved family leaves it). */
export function isViewInvalidError(error: unknown): boolean {
  const e = driverCause(error);
  return e.code === 'ER_VIEW_INVALID' || e.errno === 1356;
}

/**
 * Maps any error thrown while talking to a shard to an AppError.
 * AppErrors pass through; connection failures, refused credentials, pool
 * timeouts and killed statements become SHARD_UNAVAILABLE (503, with a
 * `reason`), statement timeouts QUERY_TIMEOUT (504), the gateway's own
 * deadline QUERY_TIMEOUT for a query and SHARD_UNAVAILABLE for a write, a statement larger than the
 * server's max_allowed_packet PAYLOAD_TOO_LARGE (413), server errors on a user's query
 * QUERY_FAILED (400, with the server's own message), anything else INTERNAL_SERVER_ERROR.
 */
export function translateMysqlError(error: unknown, context: MysqlErrorContext): AppError {
  if (isAppError(error)) return error;
  const e = asDriverError(error);
  const details = context.family === undefined ? { shard: context.shard } : { shard: context.shard, family: context.family };
  if (typeof e.errno === 'number' && TIMEOUT_ERRNOS.has(e.errno)) {
    return new AppError(
      'QUERY_TIMEOUT',
      'the query ran past the statement time limit; narrow it (WHERE, LIMIT) or raise --query_timeout_ms',
      details,
      error,
    );
  }
  if (e.code === NO_ANSWER_CODE) {
    const timeoutMs = Number((error as { timeoutMs?: unknown }).timeoutMs);
    if ((error as { kind?: unknown }).kind === 'query') {
      return new AppError(
        'QUERY_TIMEOUT',
        `shard "${context.shard}" did not answer the query within ${timeoutMs} ms (it may be hung or overloaded); narrow the query, retry later, or raise --query_timeout_ms`,
        details,
        error,
      );
    }
    return new AppError(
      'SHARD_UNAVAILABLE',
      `shard "${context.shard}" did not answer within ${timeoutMs} ms (--write_timeout_ms): it may be hung or overloaded; retry once it answers`,
      { ...details, reason: 'no_answer', timeoutMs },
      error,
    );
  }
  if (e.name === 'KnexTimeoutError') {
    return new AppError(
      'SHARD_UNAVAILABLE',
      `shard "${context.shard}" is saturated: no connection came free in time; retry, or raise --pool_max if it persists`,
      { ...details, reason: 'pool_timeout' },
      error,
    );
  }
  if (e.code === 'ER_NET_PACKET_TOO_LARGE' || e.errno === 1153) {
    return new AppError(
      'PAYLOAD_TOO_LARGE',
      `one event is too large for shard "${context.shard}": its row is more than the server's max_allowed_packet; shrink the event, or raise max_allowed_packet on the server`,
      details,
      error,
    );
  }
  if (isAuthError(e)) {
    return new AppError(
      'SHARD_UNAVAILABLE',
      `shard "${context.shard}" refused the gateway's credentials${typeof e.sqlMessage === 'string' ? ` (${e.sqlMessage})` : ''}; check the user and password of that shard in --shards (or --mysql_username / --mysql_password)`,
      { ...details, reason: 'authentication_failed' },
      error,
    );
  }
  if (e.code === 'ER_QUERY_INTERRUPTED' || e.errno === INTERRUPTED_ERRNO) {
    return new AppError(
      'SHARD_UNAVAILABLE',
      `a statement of this request was killed on shard "${context.shard}" (KILL QUERY by an operator, or the server shutting down); retry`,
      { ...details, reason: 'statement_killed' },
      error,
    );
  }
  const reason = typeof e.code === 'string' ? UNAVAILABLE_REASONS.get(e.code) : undefined;
  if (reason !== undefined) {
    const unavailable = shardUnavailable(context.shard, error);
    const message =
      reason === 'connection_killed'
        ? `the connection to shard "${context.shard}" was killed (KILL by an operator, or the server restarting); retry`
        : reason === 'connection_lost'
          ? `the connection to shard "${context.shard}" was lost; retry once it is back`
          : unavailable.message;
    return new AppError(
      'SHARD_UNAVAILABLE',
      context.family === undefined ? message : `${message} (it holds log family "${context.family}")`,
      { ...details, reason },
      error,
    );
  }
  if (context.userQuery === true && typeof e.code === 'string' && e.code.startsWith(QUERY_ERROR_CODES_PREFIX)) {
    const serverMessage = typeof e.sqlMessage === 'string' ? e.sqlMessage : e.code;
    return new AppError('QUERY_FAILED', `the server rejected the query: ${serverMessage}`, { ...details, serverCode: e.code }, error);
  }
  return new AppError('INTERNAL_SERVER_ERROR', 'internal error', details, error);
}
