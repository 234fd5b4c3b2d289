/**
 * The HTTP status of a GraphQL request error (a document that does not
 * parse or validate, variables that do not coerce), per the GraphQL over
 * HTTP spec: a client that asks for `application/graphql-response+json`
 * gets 4xx with that media type; a client that asks only for
 * `application/json` (or sends no Accept, or accepts anything) gets 200 with
 * `application/json`, the status that spec recommends there. Apollo Server
 * answers 400 either way, and clients that read only `application/json`
 * (Apollo Client 3, whose Accept is `*\/*`) then see a network error with
 * no GraphQL errors: the plugin below changes only the status and the media
 * type of those answers; the body (`errors[].extensions.code`) is unchanged.
 * Other 4xx (BAD_REQUEST: no query, CSRF refusal, a GET mutation) are not
 * well-formed requests and keep their status.
 */
import type { ApolloServerPlugin } from '@apollo/server';
import { ApolloServerErrorCode } from '@apollo/server/errors';

/** The two media types of a GraphQL answer. */
export const GRAPHQL_RESPONSE_JSON = 'application/graphql-response+json; charset=utf-8';
export const APPLICATION_JSON = 'application/json; charset=utf-8';

/** Codes of request errors: the request was a well-formed GraphQL-over-HTTP request, the GraphQL in it was not. */
const REQUEST_ERROR_CODES: ReadonlySet<unknown> = new Set<unknown>([
  ApolloServerErrorCode.GRAPHQL_PARSE_FAILED,
  ApolloServerErrorCode.GRAPHQL_VALIDATION_FAILED,
  ApolloServerErrorCode.BAD_USER_INPUT,
]);

/**
 * True when `accept` prefers application/graphql-response+json to
 * application/json: a higher q, or the same q and named first (wildcards
 * count for both, at their own q and place).
 * Examples: 'application/graphql-response+json, application/json' -> true;
 * '*\/*' -> false; undefined -> false; 'application/json;q=0.9, application/graphql-response+json' -> true.
 */
export function prefersGraphqlResponseJson(accept: string | undefined): boolean {
  if (accept === undefined) return false;
  const ranges = accept.split(',').map((part, index) => {
    const [range = '', ...params] = part.split(';').map((p) => p.trim().toLowerCase());
    const q = params.find((p) => p.startsWith('q='));
    return { range, q: q === undefined ? 1 : Number(q.slice(2)) || 0, index };
  });
  const best = (type: string): { q: number; index: number } => {
    let found = { q: 0, index: Number.MAX_SAFE_INTEGER };
    for (const r of ranges) {
      if (r.range !== type && r.range !== 'application/*' && r.range !== '*/*') continue;
      if (r.q > found.q || (r.q === found.q && r.index < found.index)) found = { q: r.q, index: r.index };
    }
    return found;
  };
  const graphql = best('application/graphql-response+json');
  const json = best('application/json');
  return graphql.q > 0 && (graphql.q > json.q || (graphql.q === json.q && graphql.index < json.index));
}

/** Status and media type of a request error's answer for a client whose Accept header is `accept`. */
export function requestErrorAnswer(accept: string | undefined): { status: number; contentType: string } {
  return prefersGraphqlResponseJson(accept) ? { status: 400, contentType: GRAPHQL_RESPONSE_JSON } : { status: 200, contentType: APPLICATION_JSON };
}

/** True when every error of an answer is a request error (parse, validation, variable coercion). */
export function onlyRequestErrors(errors: ReadonlyArray<{ extensions?: Record<string, unknown> | undefined }> | undefined): boolean {
  return errors !== undefined && errors.length > 0 && errors.every((e) => REQUEST_ERROR_CODES.has(e.extensions?.['code']));
}

/** Apollo plugin: request errors answered 400 by Apollo get requestErrorAnswer's status and media type. */
export function requestErrorStatusPlugin<Context extends object>(): ApolloServerPlugin<Context> {
  return {
    async requestDidStart() {
      return {
        async willSendResponse({ request, response }) {
          if (response.http.status !== 400 || response.body.kind !== 'single') return;
          if (response.body.singleResult.data !== undefined || !onlyRequestErrors(response.body.singleResult.errors)) return;
          const answer = requestErrorAnswer(request.http?.headers.get('accept'));
          response.http.status = answer.status;
          response.http.headers.set('content-type', answer.contentType);
        },
      };
    },
  };
}
