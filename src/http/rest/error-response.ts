/**
 * Maps any error reaching the HTTP layer to the curl-friendly envelope
 * `{ "error": { "code", "message", ...details } }` and its status. Fastify's
 * own errors (bad JSON, body too large, schema validation) are given codes
 * from the registry too. Never a stack trace.
 */
import { AppError, isAppError } from '../../errors/app-error.js';
import { httpStatusOf } from '../../errors/codes.js';
import { bodyTooLarge } from './request-body.js';

/** The JSON body of every error response. */
export interface ErrorEnvelope {
  error: { code: string; message: string } & Record<string, unknown>;
}

interface FastifyErrorLike {
  code?: unknown;
  statusCode?: unknown;
  validation?: unknown;
  message?: unknown;
}

/**
 * Turns Fastify's request-level errors into AppErrors; anything else that is
 * not an AppError becomes INTERNAL_SERVER_ERROR (the caller logs the cause).
 */
export function toAppError(error: unknown, bodyLimitBytes: number): AppError {
  if (isAppError(error)) return error;
  const e = (typeof error === 'object' && error !== null ? error : {}) as FastifyErrorLike;
  const message = typeof e.message === 'string' ? e.message : '';
  switch (e.code) {
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return bodyTooLarge(bodyLimitBytes);
    case 'FST_ERR_CTP_INVALID_JSON_BODY':
    case 'FST_ERR_CTP_EMPTY_JSON_BODY':
      return new AppError('INVALID_JSON', 'the request body is not valid JSON; send a JSON object', {});
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
      return new AppError('UNSUPPORTED_MEDIA_TYPE', 'the Content-Type header is malformed; send the body as JSON with Content-Type: application/json', {});
    case 'FST_ERR_CTP_INVALID_CONTENT_LENGTH':
      return new AppError('BAD_USER_INPUT', 'the Content-Length header does not match the body; send the exact byte count of the body, or omit it and send the body chunked', {});
    default:
      break;
  }
  if (e.validation !== undefined) {
    return new AppError('BAD_USER_INPUT', `invalid request: ${message}`, {});
  }
  if (typeof e.statusCode === 'number' && e.statusCode >= 400 && e.statusCode < 500) {
    return new AppError('BAD_USER_INPUT', message || 'bad request', {});
  }
  return new AppError('INTERNAL_SERVER_ERROR', 'internal error; the gateway log has the details', {}, error);
}

/** The status and body for an AppError. Details never override code and message. */
export function errorResponse(error: AppError): { status: number; body: ErrorEnvelope } {
  return {
    status: httpStatusOf(error.code),
    body: { error: { ...error.details, code: error.code, message: error.message } },
  };
}
