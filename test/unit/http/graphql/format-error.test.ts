/**
 * formatGraphqlError: Apollo's request errors that carry a 4xx status but no
 * code (a persisted query hash that does not match) answer BAD_REQUEST with
 * their message, not a masked INTERNAL_SERVER_ERROR; other uncoded errors
 * stay masked.
 */
import { describe, expect, it } from 'vitest';
import { GraphQLError } from 'graphql/index.js';
import { classifyGraphqlError, formatGraphqlError } from '../../../../src/http/graphql/apollo.js';

describe('formatGraphqlError', () => {
  it('answers an uncoded 4xx Apollo error as BAD_REQUEST', () => {
    const error = new GraphQLError('provided sha does not match query', { extensions: { http: { status: 400 } } });
    const formatted = { message: error.message, extensions: { code: 'INTERNAL_SERVER_ERROR' } };
    expect(classifyGraphqlError(formatted, error)).toBe('bad-request');
    expect(formatGraphqlError(formatted, error)).toEqual({ message: 'provided sha does not match query', extensions: { code: 'BAD_REQUEST' } });
  });

  it('still masks an uncoded error without a 4xx status', () => {
    const error = new GraphQLError('boom', { extensions: { http: { status: 500 } } });
    const formatted = { message: error.message, extensions: { code: 'INTERNAL_SERVER_ERROR' } };
    expect(formatGraphqlError(formatted, error).extensions).toEqual({ code: 'INTERNAL_SERVER_ERROR' });
    expect(formatGraphqlError(formatted, new Error('x')).message).not.toBe('x');
  });
});
