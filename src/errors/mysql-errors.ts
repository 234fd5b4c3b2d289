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

/** Connection-level failures: the shard is down, unreachable, or dropped us. */
const UNAVAILABLE_CODES: ReadonlySet<string> = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EPIPE',
  'PROTOCOL_CONNECTION_LOST',
  'PROTOCOL_SEQUENCE_TIMEOUT',
  'PROTOCOL_ENQUEUE_AFTER_FATAL_ERROR',
  'PROTOCOL_ENQUEUE_AFTER_QUIT',
  'ER_CON_COUNT_ERROR',
  'ER_SERVER_SHUTDOWN',
  'ER_CONNECTION_KILLED',
  'ER_TOO_MANY_USER_CONNECTIONS',
  'ER_HOST_IS_BLOCKED',
  'ER_ACCESS_DENIED_ERROR',
  'ER_BAD_DB_ERROR',
  'ER_OPTION_PREVENTS_STATEMENT',
  'ER_READ_ONLY_MODE',
]);

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

/** True when the error means the shard could not be reached or the connection died. */
export function isUnavailableError(error: unknown): boolean {
  const e = asDriverError(error);
  if (e.name === 'KnexTimeoutError') return true;
  if (typeof e.code === 'string' && UNAVAILABLE_CODES.has(e.code)) return true;
  return e.fatal === true;
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

/**
 * Maps any error thrown while talking to a shard to an AppError.
 * AppErrors pass through; connection failures become SHARD_UNAVAILABLE (503),
 * statement timeouts QUERY_TIMEOUT (504), a statement larger than the
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
  if (isUnavailableError(error)) {
    const unavailable = shardUnavailable(context.shard, error);
    return context.family === undefined
      ? unavailable
      : new AppError('SHARD_UNAVAILABLE', `${unavailable.message} (it holds log family "${context.family}")`, details, error);
  }
  if (context.userQuery === true && typeof e.code === 'string' && e.code.startsWith(QUERY_ERROR_CODES_PREFIX)) {
    const serverMessage = typeof e.sqlMessage === 'string' ? e.sqlMessage : e.code;
    return new AppError('QUERY_FAILED', `the server rejected the query: ${serverMessage}`, { ...details, serverCode: e.code }, error);
  }
  return new AppError('INTERNAL_SERVER_ERROR', 'internal error', details, error);
}
