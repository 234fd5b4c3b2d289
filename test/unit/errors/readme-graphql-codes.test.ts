/**
 * Every code a GraphQL client can receive is documented with its HTTP
 * status: the gateway's own codes in README.md's error table
 * (readme-codes.test.ts), and Apollo Server's request-level codes, which
 * only GraphQL answers carry, in the GraphQL-only table of docs/graphql.md.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { ApolloServerErrorCode } from '@apollo/server/errors';
import { ERROR_CODES } from '../../../src/errors/codes.js';

function graphqlOnlyRows(): Map<string, string> {
  const text = readFileSync('docs/graphql.md', 'utf8');
  const start = text.indexOf('<!-- graphql-codes:start -->');
  const end = text.indexOf('<!-- graphql-codes:end -->');
  expect(start).toBeGreaterThan(0);
  expect(end).toBeGreaterThan(start);
  const rows = new Map<string, string>();
  for (const line of text.slice(start, end).split('\n')) {
    const match = /^\| `([A-Z_]+)` \| ([^|]+) \|/.exec(line);
    if (match) rows.set(match[1] as string, (match[2] as string).trim());
  }
  return rows;
}

describe('docs/graphql.md GraphQL-only codes', () => {
  it("lists every Apollo Server code the registry does not, each with its HTTP status", () => {
    const rows = graphqlOnlyRows();
    const apolloOnly = Object.values(ApolloServerErrorCode).filter((code) => !(code in ERROR_CODES));
    expect([...rows.keys()].sort()).toEqual([...apolloOnly].sort());
    for (const status of rows.values()) expect(status).toMatch(/^\d{3}\b/);
  });
});
