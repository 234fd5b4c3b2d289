/** Shared checks of REST request bodies. */
import { badInput } from '../../errors/app-error.js';

/** The body must be a JSON object; anything else is BAD_USER_INPUT. */
export function requireObject(body: unknown): Record<string, unknown> {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    throw badInput('the request body must be a JSON object', {});
  }
  return body as Record<string, unknown>;
}
