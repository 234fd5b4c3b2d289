import { httpStatusOf, type ErrorCode } from './codes.js';

/** Structured context of an error: safe to send to clients (no credentials, no row contents). */
export type ErrorDetails = Record<string, unknown>;

/**
 * The one error type the services throw. Callers branch on `code`, never on
 * the message; `message` tells a person what went wrong and how to fix it.
 */
export class AppError extends Error {
  readonly code: ErrorCode;
  readonly details: ErrorDetails;

  constructor(code: ErrorCode, message: string, details: ErrorDetails = {}, cause?: unknown) {
    super(message, cause === undefined ? undefined : { cause });
    this.name = 'AppError';
    this.code = code;
    this.details = details;
  }

  /** The HTTP status for this error's code. */
  get status(): number {
    return httpStatusOf(this.code);
  }
}

/** True when `error` is an AppError. */
export function isAppError(error: unknown): error is AppError {
  return error instanceof AppError;
}

/** Factory: bad input of any kind. */
export function badInput(message: string, details: ErrorDetails = {}): AppError {
  return new AppError('BAD_USER_INPUT', message, details);
}

/** Factory: the family has no catalog row. */
export function familyNotFound(family: string): AppError {
  return new AppError(
    'FAMILY_NOT_FOUND',
    `log family "${family}" does not exist; ingest into it with PUT /api/log first`,
    { family },
  );
}

/** Factory: a shard cannot be reached. */
export function shardUnavailable(shard: string, cause?: unknown): AppError {
  return new AppError(
    'SHARD_UNAVAILABLE',
    `shard "${shard}" is unreachable; retry once it is back`,
    { shard },
    cause,
  );
}
