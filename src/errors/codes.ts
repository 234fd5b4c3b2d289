/**
 * The single registry of error codes. Each code maps to one HTTP status; the
 * same string is the GraphQL `extensions.code`. A code is never renamed or
 * reused for another meaning: clients branch on it.
 */
export const ERROR_CODES = {
  /** Arguments or body fail validation. */
  BAD_USER_INPUT: 400,
  /** The request body is not valid JSON. */
  INVALID_JSON: 400,
  /** A family name breaks the naming rules or is reserved. */
  INVALID_FAMILY_NAME: 400,
  /** A field name breaks the naming rules, is reserved, or collides with another by case. */
  INVALID_FIELD_NAME: 400,
  /** A declared schema is malformed or uses an unknown type. */
  INVALID_SCHEMA: 400,
  /** An event carries a field that the request's schema does not declare. */
  UNDECLARED_FIELD: 400,
  /** A value does not fit its declared type. */
  INVALID_VALUE: 400,
  /** A family would have more columns than the configured cap. */
  TOO_MANY_COLUMNS: 400,
  /** A retention or purge time is unparseable, negative or in the future. */
  INVALID_TIME: 400,
  /** The SQL text does not parse as one MySQL statement. */
  QUERY_PARSE_FAILED: 400,
  /** The SQL is not a single safe SELECT. */
  QUERY_NOT_READ_ONLY: 400,
  /** The SQL names a table outside the families and raw_logs. */
  QUERY_TABLE_FORBIDDEN: 400,
  /** A cross-shard query would move more rows than the configured cap. */
  QUERY_TOO_LARGE: 400,
  /** The SQL was valid but the server rejected it (unknown column, bad syntax for the server, ...). */
  QUERY_FAILED: 400,
  /** The SQL text is longer, or has more tokens or nesting, than the configured bounds allow; or a GraphQL operation ran more SQL statements than allowed. */
  QUERY_TOO_COMPLEX: 400,
  /** A result would carry two columns of the same name. */
  DUPLICATE_COLUMN_NAME: 400,
  /** No or unknown access token (access control on). */
  UNAUTHENTICATED: 401,
  /** The token lacks the scope, or the family is outside its patterns. */
  FORBIDDEN: 403,
  /** The family has no catalog row. */
  FAMILY_NOT_FOUND: 404,
  /** A table named in a query is neither a family nor raw_logs. */
  TABLE_NOT_FOUND: 404,
  /** No route matches the method and path. */
  ROUTE_NOT_FOUND: 404,
  /** The method is not allowed on this path. */
  METHOD_NOT_ALLOWED: 405,
  /** The client took longer than the configured time to send the request. */
  REQUEST_TIMEOUT: 408,
  /** A re-declaration differs from the stored schema. */
  SCHEMA_CONFLICT: 409,
  /** The family is moving between shards: a second move, a purge, or a cancel once it is switching must wait. */
  FAMILY_MOVING: 409,
  /** The family has no move in progress (to cancel) or never moved (to report). */
  MOVE_NOT_FOUND: 404,
  /** The request body exceeds the configured limit, or one event's row exceeds a shard's max_allowed_packet. */
  PAYLOAD_TOO_LARGE: 413,
  /** The request line or path is too long. */
  URI_TOO_LONG: 414,
  /** The body's Content-Type, charset or Content-Encoding is not accepted. */
  UNSUPPORTED_MEDIA_TYPE: 415,
  /** An Idempotency-Key already applied came with a different request. */
  IDEMPOTENCY_KEY_REUSED: 422,
  /** A per-token request or event limit was reached; see Retry-After. */
  RATE_LIMITED: 429,
  /** The request headers are larger than the server accepts. */
  HEADERS_TOO_LARGE: 431,
  /** A connection is refused or lost, or the pool timed out. */
  SHARD_UNAVAILABLE: 503,
  /** This process runs as many cross-shard queries as it may; see Retry-After. */
  GATEWAY_BUSY: 503,
  /** The statement time limit was exceeded. */
  QUERY_TIMEOUT: 504,
  /** Invalid configuration at start-up (never sent over HTTP). */
  CONFIG_INVALID: 500,
  /** Anything not coded; the message is masked. */
  INTERNAL_SERVER_ERROR: 500,
} as const;

/** One of the registered error codes. */
export type ErrorCode = keyof typeof ERROR_CODES;

/** The HTTP status of an error code. */
export function httpStatusOf(code: ErrorCode): number {
  return ERROR_CODES[code];
}
