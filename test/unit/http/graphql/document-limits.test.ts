/**
 * The checks before Apollo parses a request: the document's tokens and
 * bracket nesting, and the variables' nesting, each stopping at its limit.
 */
import { describe, expect, it } from 'vitest';
import { checkDocument, checkRequest, checkVariables, maxTokensFor, nestsDeeperThan } from '../../../../src/http/graphql/document-limits.js';

const limits = { maxTokens: 100, maxNesting: 8 };

describe('checkDocument', () => {
  it('accepts a document within the limits', () => {
    expect(checkDocument('{ families { name columns { name } } }', limits)).toBeNull();
  });

  it('refuses more tokens than the cap, stopping there', () => {
    const huge = `{ ${'a: __typename '.repeat(1_000_000)} }`;
    const error = checkDocument(huge, limits);
    expect(error?.extensions).toEqual({ code: 'GRAPHQL_VALIDATION_FAILED', limit: 'tokens', maxTokens: 100 });
    expect(error?.message).toContain('more than 100 tokens');
  });

  it('refuses deeper nesting of braces, brackets or parentheses', () => {
    expect(checkDocument(`${'{ a '.repeat(9)}${'}'.repeat(9)}`, limits)?.extensions).toMatchObject({ limit: 'nesting', maxNesting: 8 });
    expect(checkDocument(`{ f(x: ${'['.repeat(5000)}${']'.repeat(5000)}) }`, { maxTokens: 100_000, maxNesting: 8 })?.extensions).toMatchObject({ limit: 'nesting' });
    expect(checkDocument(`${'{ a '.repeat(8)}${'}'.repeat(8)}`, limits)).toBeNull();
  });

  it('leaves text that does not lex to the parser', () => {
    expect(checkDocument('{ "unterminated }', limits)).toBeNull();
  });

  it('caps tokens at max(10000, graphql_max_cost)', () => {
    expect(maxTokensFor(500)).toBe(10_000);
    expect(maxTokensFor(50_000)).toBe(50_000);
  });
});

describe('variables', () => {
  it('measures nesting iteratively, at any depth', () => {
    let deep: unknown = 1;
    for (let i = 0; i < 100_000; i++) deep = i % 2 === 0 ? { a: deep } : [deep];
    expect(nestsDeeperThan(deep, 64)).toBe(true);
    expect(nestsDeeperThan({ a: [{ b: 1 }] }, 3)).toBe(false);
    expect(nestsDeeperThan({ a: [{ b: {} }] }, 3)).toBe(true);
    expect(nestsDeeperThan(null, 0)).toBe(false);
  });

  it('refuses nested variables with BAD_USER_INPUT', () => {
    expect(checkVariables({ where: { not: { not: { not: {} } } } }, { maxTokens: 100, maxNesting: 3 })?.extensions).toEqual({
      code: 'BAD_USER_INPUT',
      limit: 'nesting',
      maxNesting: 3,
    });
  });

  it('reads GET variables from their JSON text, and leaves bad JSON to Apollo', () => {
    expect(checkRequest('{ __typename }', '{"a":{"a":{"a":{"a":1}}}}', { maxTokens: 100, maxNesting: 3 })?.extensions).toMatchObject({ code: 'BAD_USER_INPUT' });
    expect(checkRequest('{ __typename }', '{not json', limits)).toBeNull();
    expect(checkRequest(undefined, undefined, limits)).toBeNull();
    // From a POST body (parsed within the depth already), only variables sent as text are walked.
    const deep = { a: { a: { a: { a: 1 } } } };
    expect(checkRequest('{ __typename }', deep, { maxTokens: 100, maxNesting: 3 })?.extensions).toMatchObject({ code: 'BAD_USER_INPUT' });
    expect(checkRequest('{ __typename }', deep, { maxTokens: 100, maxNesting: 3 }, true)).toBeNull();
    expect(checkRequest('{ __typename }', JSON.stringify(deep), { maxTokens: 100, maxNesting: 3 }, true)?.extensions).toMatchObject({ code: 'BAD_USER_INPUT' });
  });
});
