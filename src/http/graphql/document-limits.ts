/**
 * Cheap checks of a GraphQL request before Apollo parses and validates it,
 * so that neither walks an unbounded document: the operation text may have
 * at most `maxTokens` tokens and nest `{`, `[` and `(` at most `maxNesting`
 * deep, and its variables may nest arrays and objects at most `maxNesting`
 * deep. Each check stops at its limit, so a 5 MB document costs no more
 * than a small one. Both are answered as GraphQL errors with HTTP 400:
 * GRAPHQL_VALIDATION_FAILED for the document, BAD_USER_INPUT for the
 * variables. Text that does not even lex is left to Apollo's parser, which
 * reports the syntax error.
 */
import { GraphQLError, Lexer, Source, TokenKind } from './graphql-js.js';

/** The bounds of a GraphQL request's document and variables. */
export interface DocumentLimits {
  /** Most tokens (names, punctuation, values) of the operation text. */
  maxTokens: number;
  /** Deepest nesting of the document's brackets and of the variables' arrays and objects. */
  maxNesting: number;
}

/** Fewest tokens a document may always have, whatever graphql_max_cost is. */
const MIN_MAX_TOKENS = 10_000;

/** The token cap that goes with a cost limit: max(10000, graphql_max_cost), as every field costs at least 1. */
export function maxTokensFor(maxCost: number): number {
  return Math.max(MIN_MAX_TOKENS, maxCost);
}

const OPENING: ReadonlySet<string> = new Set([TokenKind.BRACE_L, TokenKind.BRACKET_L, TokenKind.PAREN_L]);
const CLOSING: ReadonlySet<string> = new Set([TokenKind.BRACE_R, TokenKind.BRACKET_R, TokenKind.PAREN_R]);

/** A GraphQL error answered with HTTP 400. */
function refusal(message: string, code: string, extensions: Record<string, unknown>): GraphQLError {
  return new GraphQLError(message, { extensions: { code, ...extensions } });
}

/** Null when `text` is within `limits`; otherwise the GRAPHQL_VALIDATION_FAILED error to answer. */
export function checkDocument(text: string, limits: DocumentLimits): GraphQLError | null {
  const lexer = new Lexer(new Source(text));
  let tokens = 0;
  let nesting = 0;
  try {
    for (let token = lexer.advance(); token.kind !== TokenKind.EOF; token = lexer.advance()) {
      tokens += 1;
      if (tokens > limits.maxTokens) {
        return refusal(
          `the GraphQL document has more than ${limits.maxTokens} tokens, the most one operation may have (max(10000, --graphql_max_cost)); select fewer fields or aliases, pass large values as variables, or split it into several operations`,
          'GRAPHQL_VALIDATION_FAILED',
          { limit: 'tokens', maxTokens: limits.maxTokens },
        );
      }
      if (OPENING.has(token.kind)) {
        nesting += 1;
        if (nesting > limits.maxNesting) {
          return refusal(
            `the GraphQL document nests more than ${limits.maxNesting} levels of {, [ or ( (--body_max_depth); select less deeply nested fields, or flatten the argument`,
            'GRAPHQL_VALIDATION_FAILED',
            { limit: 'nesting', maxNesting: limits.maxNesting },
          );
        }
      } else if (CLOSING.has(token.kind)) {
        nesting -= 1;
      }
    }
  } catch {
    // Not lexable: Apollo's parser answers GRAPHQL_PARSE_FAILED with the position.
    return null;
  }
  return null;
}

/** True when `value` nests arrays and objects more than `maxDepth` deep (iterative: any depth is safe). */
export function nestsDeeperThan(value: unknown, maxDepth: number): boolean {
  const stack: Array<{ value: unknown; depth: number }> = [{ value, depth: 0 }];
  for (let item = stack.pop(); item !== undefined; item = stack.pop()) {
    if (item.value === null || typeof item.value !== 'object') continue;
    const depth = item.depth + 1;
    if (depth > maxDepth) return true;
    for (const child of Array.isArray(item.value) ? item.value : Object.values(item.value)) {
      if (child !== null && typeof child === 'object') stack.push({ value: child, depth });
    }
  }
  return false;
}

/** Null when the variables are within `limits`; otherwise the BAD_USER_INPUT error to answer. */
export function checkVariables(variables: unknown, limits: DocumentLimits): GraphQLError | null {
  if (!nestsDeeperThan(variables, limits.maxNesting)) return null;
  return refusal(
    `the GraphQL variables nest arrays and objects more than ${limits.maxNesting} levels deep (--body_max_depth); flatten the value`,
    'BAD_USER_INPUT',
    { limit: 'nesting', maxNesting: limits.maxNesting },
  );
}

/**
 * The first limit a GraphQL request breaks: `query` and `variables` as sent
 * (a POST body's fields, or GET's query string, where variables are JSON
 * text). Null when within the limits or when the request is not one
 * operation (Apollo refuses those itself). `parsedWithin`: the variables
 * are a member of a body already parsed within maxNesting (a POST: the
 * body parser refuses deeper JSON), so only variables sent as JSON text are
 * walked again (a 1000-event ingestLogs would otherwise be walked twice).
 */
export function checkRequest(query: unknown, variables: unknown, limits: DocumentLimits, parsedWithin = false): GraphQLError | null {
  if (typeof query === 'string') {
    const error = checkDocument(query, limits);
    if (error !== null) return error;
  }
  if (parsedWithin && typeof variables !== 'string') return null;
  let parsed = variables;
  if (typeof variables === 'string') {
    try {
      parsed = JSON.parse(variables) as unknown;
    } catch {
      return null; // Apollo answers the malformed variables
    }
  }
  return checkVariables(parsed, limits);
}
