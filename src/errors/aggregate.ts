/**
 * Chooses the one error to report when a fan-out over several shards fails
 * in more than one place: the most actionable first.
 */
import { AppError, isAppError } from './app-error.js';
import { httpStatusOf, type ErrorCode } from './codes.js';

/** Lower rank = more actionable for the caller. */
function rankOf(code: ErrorCode): number {
  const status = httpStatusOf(code);
  if (status === 400 || status === 413 || status === 415) return 0;
  if (status === 404 || status === 409) return 1;
  if (status === 503 || status === 504) return 2;
  return 3;
}

/**
 * Returns the most actionable of `errors` (input errors, then not-found and
 * conflicts, then unavailable and timeouts, then internal), with every failed
 * shard listed in `details.shards`. Non-AppErrors count as internal.
 * Example: [SHARD_UNAVAILABLE(b), QUERY_FAILED(a)] -> QUERY_FAILED with shards [a, b].
 */
export function aggregateErrors(errors: readonly unknown[]): AppError {
  const appErrors = errors.map((error) =>
    isAppError(error) ? error : new AppError('INTERNAL_SERVER_ERROR', 'internal error', {}, error),
  );
  const first = appErrors[0];
  if (first === undefined) throw new Error('aggregateErrors needs at least one error');
  let best = first;
  for (const candidate of appErrors) if (rankOf(candidate.code) < rankOf(best.code)) best = candidate;
  const shards = [...new Set(appErrors.map((e) => e.details['shard']).filter((s): s is string => typeof s === 'string'))];
  if (appErrors.length === 1) return best;
  return new AppError(best.code, best.message, { ...best.details, shards }, best);
}
